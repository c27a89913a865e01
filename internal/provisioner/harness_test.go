package provisioner_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/twilio/twiliotest"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

const (
	partnerID      = stacktest.PartnerID
	industryID     = stacktest.IndustryID
	otherPartnerID = stacktest.OtherPartnerID
)

// harness is the provisioner's real surroundings, from internal/stacktest
// (embedded NATS from the shipped config, a redis-server, the Twilio
// emulator, a Vault dev server and a key keeper standing in for retention),
// without a provisioner: tests start replicas with start. It also watches
// outcomes as the gateway does and events as retention does.
type harness struct {
	t       *testing.T
	stack   *stacktest.Stack
	store   *redisstore.Store
	twilio  *twiliotest.Server
	keys    *vault.Client // the gateway's token: the provisioner may not decrypt
	gateway jetstream.JetStream

	mu       sync.Mutex
	outcomes map[string]*command.Outcome
	events   []command.Event
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s := stacktest.Start(t, stacktest.Options{NoProvisioner: true})
	h := &harness{
		t: t, stack: s, store: s.Store, twilio: s.Twilio,
		keys:     s.Vault.Client(t, s.Tokens.Gateway),
		outcomes: map[string]*command.Outcome{},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack logs (tail):\n%s", s.Logs.Tail(8<<10))
		}
	})
	gw := s.NATS.Connect(t, "gateway")
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
	}); err != nil {
		t.Fatal(err)
	}
	// Read events from the stream, as retention does (the stack's key
	// keeper creates the keys).
	pjs, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	oc, err := pjs.OrderedConsumer(context.Background(), natsbus.EventStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{command.EventPrefix + ".>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := oc.Consume(func(m jetstream.Msg) {
		var e command.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			t.Errorf("event is not JSON: %v", err)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return h
}

// start runs a provisioner replica until the returned stop is called (or
// the test ends). Its AckWait is short so that a stopped replica's
// in-flight command is redelivered quickly.
func (h *harness) start(t *testing.T, mutate ...func(*provisioner.Config)) (stop func()) {
	t.Helper()
	return h.stack.StartProvisioner(t, mutate...)
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
		got = h.published(commandID)
		return got != nil
	})
	return got
}

// published returns the outcome of commandID seen so far, or nil.
func (h *harness) published(commandID string) *command.Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.outcomes[commandID]
}

// forget drops the outcome seen for commandID, to wait for it again.
func (h *harness) forget(commandID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.outcomes, commandID)
}

// waitFor waits (testenv.Eventually) until cond holds, failing the test
// after 30s.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	testenv.Eventually(h.t, 30*time.Second, func() error {
		if !cond() {
			return errors.New("still waiting for " + what)
		}
		return nil
	})
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
	js, err := jetstream.New(h.stack.NATS.Connect(h.t, "provisioner"))
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		return nil, err
	}
	return s.Info(context.Background())
}
