package retention_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

// One Vault dev server for the package; tests that restart or seal Vault
// start their own persistent one.
func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

const partnerID = natstest.SeedPartnerID

// env is retention's real surroundings: embedded NATS from the shipped
// config (with the streams the provisioner creates), a redis-server and
// Vault, plus a clock the test moves.
type env struct {
	t      *testing.T
	nats   *natstest.Server
	js     jetstream.JetStream // the provisioner's
	pub    *natsbus.Publisher  // the provisioner's: publishes customer events
	rdb    *redis.Client
	redis  *testenv.Redis
	store  *redisstore.Store
	vault  *vaulttest.Server
	tokens vault.ServiceTokens
	keys   *vault.Client // retention's token
	clock  *clock
	logs   *testenv.Buffer
}

type envOption func(*envOptions)

type envOptions struct {
	vault     *vaulttest.Server
	noStreams bool
}

// withVault runs the env against vs instead of the shared dev server.
func withVault(vs *vaulttest.Server) envOption { return func(o *envOptions) { o.vault = vs } }

// withoutStreams leaves creating the streams to the test.
func withoutStreams() envOption { return func(o *envOptions) { o.noStreams = true } }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	var o envOptions
	for _, opt := range opts {
		opt(&o)
	}
	e := &env{t: t, clock: newClock(), logs: &testenv.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("retention logs:\n%s", e.logs.String())
		}
	})
	e.vault = o.vault
	if e.vault == nil {
		e.vault = vaulttest.Shared(t)
	}
	e.tokens = e.vault.Bootstrap(t)
	e.keys = e.vault.Client(t, e.tokens.Retention)
	e.rdb, e.redis = redistest.Start(t)
	e.store = redisstore.New(e.rdb)
	e.nats = startNATS(t)
	conn := e.nats.Connect(t, "provisioner")
	var err error
	if e.js, err = jetstream.New(conn); err != nil {
		t.Fatal(err)
	}
	if e.pub, err = natsbus.NewPublisher(conn); err != nil {
		t.Fatal(err)
	}
	if !o.noStreams {
		e.ensureStreams()
	}
	return e
}

func (e *env) ensureStreams() {
	e.t.Helper()
	if err := natsbus.EnsureStreams(ctx(e.t), e.js, natsbus.StreamLimits{}); err != nil {
		e.t.Fatal(err)
	}
}

// config is a replica's configuration: retention's own NATS user and
// Vault token, the test's clock, and a sweep interval long enough that
// only the start-up sweep runs unless the test sweeps.
func (e *env) config(t *testing.T) retention.Config {
	t.Helper()
	pub, err := natsbus.NewPublisher(e.nats.Connect(t, "retention"))
	if err != nil {
		t.Fatal(err)
	}
	return retention.Config{
		Store: e.store, Keys: e.keys, Publisher: pub, Now: e.clock.Now,
		Logger:        slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("service", "retention"),
		SweepInterval: time.Hour,
		VaultRetry:    natsbus.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond},
	}
}

// replica is one running retention service.
type replica struct {
	*retention.Service
	stop func()
}

// start runs a retention replica until stop or the end of the test.
func (e *env) start(t *testing.T, mutate ...func(*retention.Config)) *replica {
	t.Helper()
	cfg := e.config(t)
	for _, m := range mutate {
		m(&cfg)
	}
	svc, err := retention.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := e.nats.Connect(t, "retention")
	c, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- svc.Run(c, retention.RunConfig{
			Conn: conn, AckWait: 10 * time.Second, CloseTimeout: 5 * time.Second, Running: running,
			Redelivery: natsbus.Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		})
	}()
	select {
	case <-running:
	case err := <-done:
		cancel()
		t.Fatalf("retention stopped at start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("retention not running after 20s")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("retention Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("retention did not stop within 20s")
			}
		})
	}
	t.Cleanup(stop)
	return &replica{Service: svc, stop: stop}
}

// publish stores a customer event in the event stream, as the provisioner does.
func (e *env) publish(ev *command.Event) {
	e.t.Helper()
	if err := e.pub.PublishEvent(ctx(e.t), ev); err != nil {
		e.t.Fatal(err)
	}
}

func registered(id string, at time.Time) *command.Event {
	return &command.Event{
		Version: command.WireVersion, ID: "cmd-reg-" + id, Type: command.Registered, CustomerID: id, PartnerID: partnerID,
		CustomerVersion: 1, CommandID: "cmd-reg-" + id, Actor: "nats:" + partnerID, OccurredAt: at, Status: customer.StatusRegistered,
	}
}

func terminated(id string, r customer.Retention, at time.Time) *command.Event {
	return &command.Event{
		Version: command.WireVersion, ID: "cmd-term-" + id, Type: command.Terminated, CustomerID: id, PartnerID: partnerID,
		CustomerVersion: 2, CommandID: "cmd-term-" + id, Actor: "nats:" + partnerID, OccurredAt: at, Status: customer.StatusTerminated,
		Retention: &r,
	}
}

// keyEvents returns the key events published for the customer, in order.
func (e *env) keyEvents(id string) []command.Event {
	e.t.Helper()
	c := ctx(e.t)
	oc, err := e.js.OrderedConsumer(c, natsbus.EventStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{command.KeyEventSubject("*", id)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := oc.Info(c)
	if err != nil {
		e.t.Fatal(err)
	}
	if info.NumPending == 0 {
		return nil
	}
	batch, err := oc.Fetch(int(info.NumPending), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []command.Event
	for m := range batch.Messages() {
		var ev command.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			e.t.Fatalf("key event %s: %v", m.Data(), err)
		}
		out = append(out, ev)
	}
	if len(out) != int(info.NumPending) {
		e.t.Fatalf("read %d key events of %d", len(out), info.NumPending)
	}
	return out
}

// waitKeyEvents polls until the customer has n key events of type typ
// and returns them.
func (e *env) waitKeyEvents(id string, typ command.EventType, n int) []command.Event {
	e.t.Helper()
	var evs []command.Event
	testenv.Eventually(e.t, 15*time.Second, func() error {
		evs = e.keyEventsOf(id, typ)
		if len(evs) != n {
			return fmt.Errorf("%d %s events for %s, want %d", len(evs), typ, id, n)
		}
		return nil
	})
	return evs
}

// keyEventsOf returns the customer's key events of type typ.
func (e *env) keyEventsOf(id string, typ command.EventType) []command.Event {
	e.t.Helper()
	var out []command.Event
	for _, ev := range e.keyEvents(id) {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// record returns the customer's key record.
func (e *env) record(id string) keys.Record {
	e.t.Helper()
	r, err := e.store.KeyStatus(ctx(e.t), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// waitState polls until the customer's key record is in state.
func (e *env) waitState(id string, state keys.State) keys.Record {
	e.t.Helper()
	var r keys.Record
	testenv.Eventually(e.t, 15*time.Second, func() error {
		r = e.record(id)
		if r.State != state {
			return fmt.Errorf("key of %s is %s, want %s", id, r.State, state)
		}
		return nil
	})
	return r
}

// waitConsumed polls until retention has acknowledged every customer event.
func (e *env) waitConsumed() {
	e.t.Helper()
	testenv.Eventually(e.t, 15*time.Second, func() error {
		c, err := e.js.Consumer(ctx(e.t), natsbus.EventStream, retention.ConsumerName)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx(e.t))
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("%d events pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// keyExists reports whether Vault has the customer's key, as retention's token sees it.
func (e *env) keyExists(id string) bool {
	e.t.Helper()
	ok, err := e.keys.KeyStatus(ctx(e.t), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func newID() string { return uuid.NewString() }

// clock is Config.Now: the real time until the test sets it, then fixed.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// countingKeys counts the confirmed destructions per customer on top of real keys.
type countingKeys struct {
	retention.Keys
	mu        sync.Mutex
	destroyed map[string]int
}

func (k *countingKeys) DestroyKey(ctx context.Context, id string) error {
	err := k.Keys.DestroyKey(ctx, id)
	if err == nil {
		k.mu.Lock()
		k.destroyed[id]++
		k.mu.Unlock()
	}
	return err
}

func (k *countingKeys) count(id string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.destroyed[id]
}

// errFlaky is a transient failure of the fake keys.
var errFlaky = errors.New("fake vault unavailable")
