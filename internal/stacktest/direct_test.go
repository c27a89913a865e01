package stacktest_test

// A partner publishing commands straight onto NATS, as docs/commands.md
// tells it to, against the whole running system: the partner's own NATS
// user from deploy/nats/nats.conf, JetStream with its inbox prefix,
// outcomes on its subject, the result visible through GraphQL, and the
// permissions that keep it to its own partner.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// partner is a direct publisher's connection that records the
// asynchronous errors (permission violations) the server sends it.
type partner struct {
	id string // the partner's id
	nc *nats.Conn
	js jetstream.JetStream

	mu   sync.Mutex
	errs []error
	got  chan struct{}
}

// connectPartner connects as the docs' partner's direct publisher.
func connectPartner(t *testing.T, s *stacktest.Stack) *partner {
	t.Helper()
	return connectAs(t, s, natstest.SeedPartnerUser, stacktest.PartnerID)
}

// connectAs connects as user, the direct publisher of partnerID, with the
// inbox prefix docs/commands.md tells it to set.
func connectAs(t *testing.T, s *stacktest.Stack, user, partnerID string) *partner {
	t.Helper()
	p := &partner{id: partnerID, got: make(chan struct{}, 64)}
	nc, err := nats.Connect(s.NATS.URL(),
		nats.UserInfo(user, natstest.Passwords[user]),
		nats.CustomInboxPrefix("_INBOX_"+user),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
			p.got <- struct{}{}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	p.nc = nc
	if p.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return p
}

// violation waits for the server's permissions violation naming subject.
func (p *partner) violation(t *testing.T, subject string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		for _, err := range p.errs {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				p.mu.Unlock()
				return
			}
		}
		seen := append([]error(nil), p.errs...)
		p.mu.Unlock()
		select {
		case <-p.got:
		case <-deadline:
			t.Fatalf("no permissions violation for %s; errors: %v", subject, seen)
		}
	}
}

// outcomes collects the partner's outcomes by command id.
type outcomes struct {
	t         *testing.T
	partnerID string
	sub       *nats.Subscription
	raw       map[string][]byte
}

func (p *partner) subscribeOutcomes(t *testing.T) *outcomes {
	t.Helper()
	sub, err := p.nc.SubscribeSync(command.OutcomePrefix + "." + p.id + ".>")
	if err != nil {
		t.Fatal(err)
	}
	// The outcome is published once, on core NATS: the subscription must
	// be in place before the command is.
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &outcomes{t: t, partnerID: p.id, sub: sub, raw: map[string][]byte{}}
}

// wait returns the outcome of commandID.
func (o *outcomes) wait(commandID string) (*command.Outcome, []byte) {
	o.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for o.raw[commandID] == nil {
		m, err := o.sub.NextMsg(time.Until(deadline))
		if err != nil {
			o.t.Fatalf("no outcome for command %s: %v", commandID, err)
		}
		var out command.Outcome
		if err := json.Unmarshal(m.Data, &out); err != nil {
			o.t.Fatalf("outcome on %s is not JSON: %v: %s", m.Subject, err, m.Data)
		}
		if want := command.OutcomeSubject(o.partnerID, out.CommandID); m.Subject != want {
			o.t.Errorf("outcome of %s arrived on %s, want %s", out.CommandID, m.Subject, want)
		}
		o.raw[out.CommandID] = m.Data
	}
	var out command.Outcome
	_ = json.Unmarshal(o.raw[commandID], &out)
	return &out, o.raw[commandID]
}

// none checks that no further outcome for commandID arrives within d.
func (o *outcomes) none(commandID string, d time.Duration) {
	o.t.Helper()
	delete(o.raw, commandID)
	deadline := time.Now().Add(d)
	for {
		m, err := o.sub.NextMsg(time.Until(deadline))
		if errors.Is(err, nats.ErrTimeout) {
			return
		}
		if err != nil {
			o.t.Fatal(err)
		}
		var out command.Outcome
		_ = json.Unmarshal(m.Data, &out)
		if out.CommandID == commandID {
			o.t.Fatalf("a second outcome for %s: %s", commandID, m.Data)
		}
		o.raw[out.CommandID] = m.Data
	}
}

func outcomeSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "docs", "schemas", "outcome.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return sch
}

func validOutcome(t *testing.T, sch *jsonschema.Schema, raw []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err == nil {
		err = sch.Validate(inst)
	}
	if err != nil {
		t.Errorf("outcome does not match docs/schemas/outcome.v1.json: %v\n%s", err, raw)
	}
}

// publish stores cmd in the command stream as the docs say: JetStream,
// Nats-Msg-Id = command id.
func (p *partner) publish(t *testing.T, cmd map[string]any) *jetstream.PubAck {
	t.Helper()
	body, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subject := command.CommandSubject(cmd["partnerId"].(string), cmd["customerId"].(string))
	ack, err := p.js.Publish(ctx, subject, body, jetstream.WithMsgID(cmd["id"].(string)))
	if err != nil {
		t.Fatalf("publish %s to %s: %v", cmd["type"], subject, err)
	}
	if ack.Stream != natsbus.CommandStream {
		t.Errorf("stored in stream %q, want %s", ack.Stream, natsbus.CommandStream)
	}
	return ack
}

func newCommand(typ command.Type, customerID string, payload any) map[string]any {
	c := map[string]any{
		"version": command.WireVersion, "id": uuid.NewString(), "type": string(typ),
		"customerId": customerID, "partnerId": stacktest.PartnerID,
		"issuedAt": time.Now().UTC().Format(time.RFC3339Nano),
	}
	if payload != nil {
		c["payload"] = payload
	}
	return c
}

func TestDirectPublisherLifecycle(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	sch := outcomeSchema(t)
	p := connectPartner(t, s)
	outs := p.subscribeOutcomes(t)
	customerID := uuid.NewString()

	// Register, then activate right behind it: per-customer order holds.
	reg := newCommand(command.Register, customerID, map[string]any{
		"space": "direct-" + customerID[:8], "industryId": stacktest.IndustryID, "label": "Direct Co.",
	})
	if ack := p.publish(t, reg); ack.Duplicate {
		t.Fatal("a fresh command was flagged duplicate")
	}
	act := newCommand(command.Activate, customerID, nil)
	act["expectedVersion"] = 1
	p.publish(t, act)

	for _, step := range []struct {
		cmd     map[string]any
		version int64
		event   command.EventType
	}{{reg, 1, command.Registered}, {act, 2, command.Activated}} {
		out, raw := outs.wait(step.cmd["id"].(string))
		validOutcome(t, sch, raw)
		if out.Status != command.Applied || out.CustomerVersion != step.version || out.Event != step.event ||
			out.CustomerID != customerID || out.PartnerID != stacktest.PartnerID || string(out.Type) != step.cmd["type"] {
			t.Fatalf("outcome of %s: %s", step.cmd["type"], raw)
		}
	}

	// The same command id again: JetStream drops it within its window and
	// no second outcome is published.
	if ack := p.publish(t, reg); !ack.Duplicate {
		t.Error("republished command id was not flagged duplicate")
	}
	outs.none(reg["id"].(string), 500*time.Millisecond)

	// Plaintext contact info: allowed on the wire for direct publishers.
	upd := newCommand(command.UpdateContactInfo, customerID, map[string]any{"contactInfo": map[string]any{
		"businessName": "Direct Co. Inc.", "phoneNumber": "+1 (416) 555-0199", "addressLine1": "1 Yonge St",
		"postalCode": "m5e1e5", "province": "ON", "country": "CA",
	}})
	p.publish(t, upd)
	if out, raw := outs.wait(upd["id"].(string)); out.Status != command.Applied || out.CustomerVersion != 3 {
		t.Fatalf("outcome of updateContactInfo: %s", raw)
	}

	// A bad command: rejected with the field at fault, and dead-lettered.
	bad := newCommand(command.Terminate, customerID, map[string]any{"retention": map[string]any{"strategy": "FOREVER"}})
	p.publish(t, bad)
	out, raw := outs.wait(bad["id"].(string))
	validOutcome(t, sch, raw)
	if out.Status != command.Rejected || len(out.Errors) != 1 || out.Errors[0].Field != "payload.retention.strategy" {
		t.Fatalf("outcome of an unknown strategy: %s", raw)
	}

	// Over 64 KiB: rejected with an outcome while the stream still takes
	// it; larger still, the partner's account refuses the publish itself
	// (its max_payload is the stream's largest message).
	big := newCommand(command.Activate, customerID, nil)
	body, _ := json.Marshal(big)
	padded := append(body[:len(body)-1], append(bytes.Repeat([]byte(" "), command.MaxSize+1-len(body)), '}')...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subject := command.CommandSubject(stacktest.PartnerID, customerID)
	if _, err := p.js.Publish(ctx, subject, padded, jetstream.WithMsgID(big["id"].(string))); err != nil {
		t.Fatalf("publish a command of %d bytes: %v", len(padded), err)
	}
	out, raw = outs.wait(big["id"].(string))
	validOutcome(t, sch, raw)
	if out.Status != command.Rejected || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, "the limit is 65536") {
		t.Fatalf("outcome of a command over 64 KiB: %s", raw)
	}
	huge := append(padded[:len(padded)-1], append(bytes.Repeat([]byte(" "), 8192), '}')...)
	if _, err := p.js.Publish(ctx, subject, huge, jetstream.WithMsgID(uuid.NewString())); err == nil {
		t.Errorf("the stream stored a command of %d bytes", len(huge))
	}

	// The customer, through GraphQL.
	r := s.Do(s.PartnerKey, `query($id: ID!) { customer(id: $id) { id status version partnerId
		contactInfo { businessName phoneNumber postalCode } history { version event actor commandId } } }`,
		map[string]any{"id": customerID})
	var got struct {
		Customer *struct {
			ID, Status, PartnerID string
			Version               int
			ContactInfo           *struct{ BusinessName, PhoneNumber, PostalCode string }
			History               []struct {
				Version                 int
				Event, Actor, CommandID string
			}
		}
	}
	if err := json.Unmarshal(r.Data["customer"], &got.Customer); err != nil || got.Customer == nil {
		t.Fatalf("customer query: %v: %s", err, r.Raw)
	}
	c := got.Customer
	if c.ID != customerID || c.Status != "ACTIVE" || c.Version != 3 || c.PartnerID != stacktest.PartnerID {
		t.Errorf("customer through GraphQL: %s", r.Raw)
	}
	if c.ContactInfo == nil || c.ContactInfo.PhoneNumber != "+14165550199" || c.ContactInfo.PostalCode != "M5E 1E5" {
		t.Errorf("contact info is not the normalised plaintext sent: %s", r.Raw)
	}
	if len(c.History) != 3 || c.History[0].CommandID != reg["id"] || c.History[1].CommandID != act["id"] ||
		c.History[0].Actor != "nats:"+stacktest.PartnerID {
		t.Errorf("history: %s", r.Raw)
	}
	// Another partner sees nothing.
	r = s.Do(s.OtherPartnerKey, `query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": customerID})
	if string(r.Data["customer"]) != "null" {
		t.Errorf("another partner sees the customer: %s", r.Raw)
	}

	// Where plaintext may and may not live.
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	ctx = context.Background()
	cmds, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, func() error {
		info, err := cmds.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("the command stream holds %d messages, want none once every command is processed", info.State.Msgs)
		}
		return nil
	})
	if cfg := cmds.CachedInfo().Config; cfg.Retention != jetstream.WorkQueuePolicy || cfg.MaxAge != 72*time.Hour || cfg.Duplicates != 10*time.Minute {
		t.Errorf("command stream retention %v, MaxAge %v, Duplicates %v; the docs say work queue, 72h, 10m", cfg.Retention, cfg.MaxAge, cfg.Duplicates)
	}
	events := streamMessages(t, js, natsbus.EventStream, command.CustomerEvents(stacktest.PartnerID, customerID)+".*")
	if len(events) == 0 {
		t.Error("the customer's events are not in the event stream: the scan below proves nothing")
	}
	for _, m := range events {
		if bytes.Contains(m.Data(), []byte("4165550199")) || bytes.Contains(m.Data(), []byte("Yonge")) || bytes.Contains(m.Data(), []byte("Direct Co. Inc.")) {
			t.Errorf("an event carries contact info: %s", m.Data())
		}
	}
	dlq := streamMessages(t, js, natsbus.DeadLetterStream, command.DeadLetterSubject(stacktest.PartnerID))
	found := false
	for _, m := range dlq {
		if m.Headers().Get(natsbus.HeaderOriginalMsgID) != bad["id"] {
			continue
		}
		found = true
		var dl command.DeadLetter
		if err := json.Unmarshal(m.Data(), &dl); err != nil || dl.CommandID != bad["id"] || len(dl.Errors) != 1 ||
			dl.Errors[0].Field != "payload.retention.strategy" || dl.Type != command.Terminate {
			t.Errorf("dead letter body: %v: %s", err, m.Data())
		}
		if bytes.Contains(m.Data(), []byte("FOREVER")) {
			t.Errorf("the dead letter holds the message: %s", m.Data())
		}
		if reason := m.Headers().Get(natsbus.HeaderDeadLetterReason); !strings.Contains(reason, "payload.retention.strategy") {
			t.Errorf("dead letter reason %q does not name the field", reason)
		}
		if subj := m.Headers().Get(natsbus.HeaderOriginalSubject); !strings.HasPrefix(subj, command.PartitionPrefix+".") || !strings.HasSuffix(subj, customerID) {
			t.Errorf("dead letter original subject %q", subj)
		}
		if m.Headers().Get(natsbus.HeaderOriginalStreamSeq) == "" {
			t.Error("dead letter has no original stream sequence")
		}
	}
	if !found {
		t.Errorf("the rejected command is not in %s (%d messages there)", natsbus.DeadLetterStream, len(dlq))
	}
}

// TestDirectPublisherPermissions: the partner's user reaches its own
// commands and outcomes only.
func TestDirectPublisherPermissions(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	p := connectPartner(t, s)
	customerID := uuid.NewString()

	// Another partner's outcomes.
	other := command.OutcomePrefix + "." + stacktest.OtherPartnerID + ".>"
	if _, err := p.nc.SubscribeSync(other); err != nil {
		t.Fatal(err)
	}
	p.violation(t, other)

	// Everybody's outcomes, events, dead letters and the default inbox.
	for _, subj := range []string{command.OutcomePrefix + ".>", command.EventPrefix + ".>", command.DeadLetterPrefix + ".>", "_INBOX.>"} {
		if _, err := p.nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		p.violation(t, subj)
	}

	// Publishing events.
	evt := command.EventSubject(stacktest.PartnerID, customerID, command.Terminated)
	if err := p.nc.Publish(evt, []byte(`{"version":1}`)); err != nil {
		t.Fatal(err)
	}
	p.violation(t, evt)

	// Another partner's commands: refused on the mapped partition subject,
	// so nothing reaches the stream.
	cmd := newCommand(command.Register, customerID, map[string]any{
		"space": "intruder-" + customerID[:8], "industryId": stacktest.IndustryID, "label": "Intruder",
	})
	cmd["partnerId"] = stacktest.OtherPartnerID
	body, _ := json.Marshal(cmd)
	msg := nats.NewMsg(command.CommandSubject(stacktest.OtherPartnerID, customerID))
	msg.Header.Set(nats.MsgIdHdr, cmd["id"].(string))
	msg.Data = body
	if err := p.nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	p.violation(t, stacktest.OtherPartnerID+"."+customerID)

	// The JetStream API (stream info) is not the partner's either.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := p.js.Stream(ctx, natsbus.CommandStream); err == nil {
		t.Error("the partner user can read the command stream's info")
	}

	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(streamMessages(t, js, natsbus.EventStream, evt)); n != 0 {
		t.Errorf("%d forged events were stored", n)
	}
	if _, err := s.Store.Get(context.Background(), customerID); err == nil {
		t.Error("another partner's command was applied")
	}
	r := s.Do(s.OtherPartnerKey, `query($id: ID!) { command(id: $id) { id } }`, map[string]any{"id": cmd["id"]})
	if string(r.Data["command"]) != "null" {
		t.Errorf("the forged command reached the provisioner: %s", r.Raw)
	}

	// And the partner's own commands still go through on this connection.
	outs := p.subscribeOutcomes(t)
	own := newCommand(command.Register, customerID, map[string]any{
		"space": "own-" + customerID[:8], "industryId": stacktest.IndustryID, "label": "Own",
	})
	p.publish(t, own)
	if out, raw := outs.wait(own["id"].(string)); out.Status != command.Applied {
		t.Fatalf("own command after the violations: %s", raw)
	}
}

// streamMessages returns the messages of stream on subject, read with an
// ephemeral consumer.
func streamMessages(t *testing.T, js jetstream.JetStream, stream, subject string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		FilterSubject: subject, AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for uint64(len(out)) < info.NumPending {
		batch, err := cons.Fetch(int(info.NumPending)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		n := len(out)
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		if len(out) == n {
			t.Fatalf("read %s: %d of %d messages", stream, n, info.NumPending)
		}
	}
	return out
}

// TestTwoPartnersAreIsolated: the seed's two partners, each with its own
// account and user in deploy/nats/nats.conf, publish side by side; neither
// can publish the other's commands, read the other's outcomes, or act on
// the other's customer through its own subject.
func TestTwoPartnersAreIsolated(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	first := connectPartner(t, s)
	second := connectAs(t, s, natstest.SecondPartnerUser, stacktest.OtherPartnerID)
	firstOuts, secondOuts := first.subscribeOutcomes(t), second.subscribeOutcomes(t)

	// The second partner registers a customer of its own, directly.
	theirs := uuid.NewString()
	reg := newCommand(command.Register, theirs, map[string]any{
		"space": "second-" + theirs[:8], "industryId": stacktest.IndustryID, "label": "Second Co.",
	})
	reg["partnerId"] = stacktest.OtherPartnerID
	second.publish(t, reg)
	if out, raw := secondOuts.wait(reg["id"].(string)); out.Status != command.Applied || out.PartnerID != stacktest.OtherPartnerID {
		t.Fatalf("the second partner's own registration: %s", raw)
	}
	// Its outcome reaches only its own partner.
	firstOuts.none(reg["id"].(string), 500*time.Millisecond)

	// Neither may subscribe to the other's outcomes, nor publish the
	// other's commands (refused on the mapped partition subject).
	for _, tc := range []struct {
		who   *partner
		other string
	}{{first, stacktest.OtherPartnerID}, {second, stacktest.PartnerID}} {
		subj := command.OutcomePrefix + "." + tc.other + ".>"
		if _, err := tc.who.nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		tc.who.violation(t, subj)
		customerID := uuid.NewString()
		forged := newCommand(command.Register, customerID, map[string]any{
			"space": "forged-" + customerID[:8], "industryId": stacktest.IndustryID, "label": "Forged",
		})
		forged["partnerId"] = tc.other
		body, _ := json.Marshal(forged)
		if err := tc.who.nc.Publish(command.CommandSubject(tc.other, customerID), body); err != nil {
			t.Fatal(err)
		}
		tc.who.violation(t, tc.other+"."+customerID)
		if _, err := s.Store.Get(context.Background(), customerID); err == nil {
			t.Errorf("partner %s registered a customer for partner %s", tc.who.id, tc.other)
		}
	}

	// The first partner acting on the second's customer through its own
	// subject finds no such customer: rejected, nothing changed.
	deact := newCommand(command.Deactivate, theirs, nil)
	first.publish(t, deact)
	if out, raw := firstOuts.wait(deact["id"].(string)); out.Status == command.Applied {
		t.Fatalf("the first partner deactivated the second's customer: %s", raw)
	}
	got, err := s.Store.Get(context.Background(), theirs)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != 1 {
		t.Errorf("the second partner's customer is at version %d after the first's command, want 1", got.Version())
	}
}
