package provisioner_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/testsvc"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twiliotest"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

const (
	partnerID      = natstest.SeedPartnerID
	industryID     = "e4c81004-1a4c-477f-97e3-b67022e9a351"
	otherPartnerID = "7d3c9a52-5c1e-4d4f-9a38-2f3a1b0c9d11"
)

// harness is the provisioner's real surroundings: embedded NATS from the
// shipped config, a redis-server, the Twilio emulator and a Vault dev server.
type harness struct {
	t       *testing.T
	nats    *natstest.Server
	rdb     *redis.Client
	redis   *testsvc.Redis
	store   *redisstore.Store
	twilio  *twiliotest.Server
	keys    *vault.Client // the provisioner's token
	keyMgr  *vault.Client // retention's token, to create keys as retention would
	gateway jetstream.JetStream
	pubConn *nats.Conn

	mu       sync.Mutex
	outcomes map[string]*command.Outcome
	events   []command.Event
	changed  chan struct{}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, outcomes: map[string]*command.Outcome{}, changed: make(chan struct{}, 1)}
	h.nats = natstest.Start(t)
	h.rdb, h.redis = redistest.Start(t)
	h.store = redisstore.New(h.rdb)
	h.twilio = twiliotest.NewServer(t, twiliotest.Config{})
	vs := vaulttest.Shared(t)
	tokens := vs.Bootstrap(t)
	h.keys = vs.Client(t, tokens.Provisioner)
	h.keyMgr = vs.Client(t, tokens.Retention)
	ctx := context.Background()
	if err := h.store.PutPartner(ctx, redisstore.Partner{ID: partnerID, Name: "Seed partner"}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutPartner(ctx, redisstore.Partner{ID: otherPartnerID, Name: "Other partner"}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutIndustry(ctx, redisstore.Industry{ID: industryID, Name: "Retail"}); err != nil {
		t.Fatal(err)
	}
	gw := h.nats.Connect(t, "gateway")
	js, err := jetstream.New(gw)
	if err != nil {
		t.Fatal(err)
	}
	h.gateway = js
	// Watch outcomes as the gateway does.
	if _, err := gw.Subscribe(command.OutcomePrefix+".>", func(m *nats.Msg) {
		var o command.Outcome
		if err := json.Unmarshal(m.Data, &o); err != nil {
			t.Errorf("outcome is not JSON: %v", err)
			return
		}
		h.mu.Lock()
		h.outcomes[o.CommandID] = &o
		h.mu.Unlock()
		h.notify()
	}); err != nil {
		t.Fatal(err)
	}
	// Play retention's part: create each registered customer's key. Read
	// events from the stream, as retention does.
	pjs, err := jetstream.New(h.nats.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(context.Background(), pjs, natsbus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	oc, err := pjs.OrderedConsumer(context.Background(), natsbus.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := oc.Consume(func(m jetstream.Msg) {
		var e command.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			t.Errorf("event is not JSON: %v", err)
			return
		}
		if e.Type == command.Registered {
			if err := h.keyMgr.CreateKey(context.Background(), e.CustomerID); err != nil {
				t.Errorf("create key: %v", err)
			}
		}
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
		h.notify()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return h
}

func (h *harness) notify() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// provisionerConfig returns the config a replica runs with.
func (h *harness) provisionerConfig(t *testing.T) provisioner.Config {
	t.Helper()
	conn := h.nats.Connect(t, "provisioner")
	pub, err := natsbus.NewPublisher(conn)
	if err != nil {
		t.Fatal(err)
	}
	tw, err := twilio.New(twilio.Config{AccountSID: h.twilio.AccountSID(), AuthToken: h.twilio.AuthToken(), BaseURL: h.twilio.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return provisioner.Config{
		Store: h.store, Twilio: tw, Keys: h.keys, Publisher: pub,
		Logger:      testLogger(),
		IsTransient: func(err error) bool { return twilio.IsTransient(err) || vault.IsTransient(err) },
		KeyWait:     2 * time.Second,
	}
}

// start runs a provisioner replica until the returned stop is called (or
// the test ends). ackWait is short so that a stopped replica's in-flight
// command is redelivered quickly.
func (h *harness) start(t *testing.T, mutate ...func(*provisioner.Config)) (stop func()) {
	t.Helper()
	cfg := h.provisionerConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := provisioner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nats.Connect(h.nats.URL(), nats.UserInfo("provisioner", natstest.Passwords["provisioner"]))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, provisioner.RunConfig{
			Conn: conn, AckWait: 3 * time.Second, Running: running,
			Redelivery:   natsbus.Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond},
			CloseTimeout: 2 * time.Second,
		})
	}()
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("provisioner stopped at start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("provisioner did not start")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("provisioner did not stop")
			}
			conn.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// publish sends cmd as the gateway does.
func (h *harness) publish(cmd *command.Command) {
	h.t.Helper()
	b, err := command.Encode(cmd)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.gateway.Publish(context.Background(), command.CommandSubject(cmd.PartnerID, cmd.CustomerID), b, jetstream.WithMsgID(cmd.ID)); err != nil {
		h.t.Fatalf("publish: %v", err)
	}
}

// send publishes cmd and waits for its outcome.
func (h *harness) send(cmd *command.Command) *command.Outcome {
	h.t.Helper()
	h.publish(cmd)
	return h.outcome(cmd.ID)
}

// outcome waits for the outcome of commandID.
func (h *harness) outcome(commandID string) *command.Outcome {
	h.t.Helper()
	var got *command.Outcome
	h.waitFor("outcome of "+commandID, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		got = h.outcomes[commandID]
		return got != nil
	})
	return got
}

// waitFor polls cond until it holds, failing the test after 20s.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-h.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (h *harness) eventsOf(customerID string) []command.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []command.Event
	for _, e := range h.events {
		if e.CustomerID == customerID {
			out = append(out, e)
		}
	}
	return out
}

// Command builders.

func newCmd(t command.Type, customerID string, payload any) *command.Command {
	c := &command.Command{
		Version: command.WireVersion, ID: uuid.NewString(), Type: t,
		CustomerID: customerID, PartnerID: partnerID, Actor: "partner:" + partnerID,
		IssuedAt: time.Now().UTC(),
	}
	if payload != nil {
		c.Payload = command.MustPayload(payload)
	}
	return c
}

func registerCmd(customerID, space string) *command.Command {
	return newCmd(command.Register, customerID, command.RegisterPayload{Space: space, IndustryID: industryID, Label: "ACME Co."})
}

func contactCmd(customerID string) *command.Command {
	return newCmd(command.UpdateContactInfo, customerID, command.ContactInfoPayload{ContactInfo: &spec})
}

func terminateCmd(customerID, strategy string, period *int) *command.Command {
	return newCmd(command.Terminate, customerID, command.TerminatePayload{Retention: command.RetentionInput{Strategy: strategy, Period: period}})
}

func at(v int64) *int64 { return &v }

func (h *harness) provisionerStreamInfo(name string) (*jetstream.StreamInfo, error) {
	js, err := jetstream.New(h.nats.Connect(h.t, "provisioner"))
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		return nil, err
	}
	return s.Info(context.Background())
}

func testLogger() *slog.Logger {
	if os.Getenv("TEXTKIT_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}
