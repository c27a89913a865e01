package provisioner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twilio/emulator"
)

var spec = customer.ContactInfo{
	BusinessName: "ACME Corporation Inc.", SecondaryName: "ACME Co.", PhoneNumber: "+14165551212",
	AddressLine1: "1 Yonge St", AddressLine2: "Suite 1204", PostalCode: "M5E 1E5", Province: "ON", Country: "CA",
}

func mustApplied(t *testing.T, o *command.Outcome) {
	t.Helper()
	if o.Status != command.Applied {
		t.Fatalf("%s: got %s %v, want APPLIED", o.Type, o.Status, o.Err())
	}
}

func mustRejected(t *testing.T, o *command.Outcome, code customer.Code) {
	t.Helper()
	if o.Status != command.Rejected {
		t.Fatalf("%s: got %s, want REJECTED with %s", o.Type, o.Status, code)
	}
	if got := customer.ErrorCode(o.Err()); got != code {
		t.Fatalf("%s: rejected with %s (%v), want %s", o.Type, got, o.Err(), code)
	}
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()
	id := uuid.NewString()

	remembered := testenv.Metric(t, "textkit_provisioner_key_checks_total", "source", "remembered")
	reg := h.send(registerCmd(id, "acme"))
	mustApplied(t, reg)
	if reg.CustomerVersion != 1 || reg.Event != command.Registered {
		t.Fatalf("register: version %d event %s, want 1 customer.registered", reg.CustomerVersion, reg.Event)
	}
	c, err := h.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status() != customer.StatusRegistered || c.Space() != "acme" || c.Version() != 1 {
		t.Fatalf("stored %s %q v%d", c.Status(), c.Space(), c.Version())
	}
	acct, ok := h.twilio.Account(c.TwilioSID())
	if !ok || acct.FriendlyName != twilio.SubaccountName(id) || acct.Status != emulator.StatusActive {
		t.Fatalf("twilio sub-account %q: %+v (found %v)", c.TwilioSID(), acct, ok)
	}

	steps := []struct {
		cmd     *command.Command
		status  customer.Status
		twilio  emulator.Status
		version int64
	}{
		{newCmd(command.Activate, id, nil), customer.StatusActive, emulator.StatusActive, 2},
		{contactCmd(id), customer.StatusActive, emulator.StatusActive, 3},
		{newCmd(command.Deactivate, id, nil), customer.StatusDeactivated, emulator.StatusSuspended, 4},
		{contactCmd(id), customer.StatusDeactivated, emulator.StatusSuspended, 5},
		{newCmd(command.Activate, id, nil), customer.StatusActive, emulator.StatusActive, 6},
		{terminateCmd(id, "INDEFINITE", nil), customer.StatusTerminated, emulator.StatusClosed, 7},
	}
	for _, s := range steps {
		o := h.send(s.cmd)
		mustApplied(t, o)
		if o.CustomerVersion != s.version {
			t.Fatalf("%s: version %d, want %d", s.cmd.Type, o.CustomerVersion, s.version)
		}
		c, err := h.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status() != s.status || c.Version() != s.version {
			t.Fatalf("after %s: %s v%d, want %s v%d", s.cmd.Type, c.Status(), c.Version(), s.status, s.version)
		}
		acct, _ := h.twilio.Account(c.TwilioSID())
		if acct.Status != s.twilio {
			t.Fatalf("after %s: twilio %s, want %s", s.cmd.Type, acct.Status, s.twilio)
		}
	}
	// The second activation did not ask Vault again for the key the
	// first one saw.
	if got := testenv.Metric(t, "textkit_provisioner_key_checks_total", "source", "remembered") - remembered; got != 1 {
		t.Errorf("activations that skipped the Vault key check: %v, want 1 (the second)", got)
	}
	c, _ = h.store.Get(ctx, id)
	if c.ContactCiphertext() == "" || json.Valid([]byte(c.ContactCiphertext())) {
		t.Fatalf("contact info is stored as %q, want transit ciphertext", c.ContactCiphertext())
	}
	plain, err := h.keys.Decrypt(ctx, id, c.ContactCiphertext())
	if err != nil {
		t.Fatal(err)
	}
	var got customer.ContactInfo
	if err := json.Unmarshal(plain, &got); err != nil || got != spec {
		t.Fatalf("decrypted contact info %+v (%v), want %+v", got, err, spec)
	}
	hist, err := h.store.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 7 || hist[0].Event != command.Registered || hist[6].Event != command.Terminated || hist[6].Version != 7 {
		t.Fatalf("history %+v", hist)
	}
	h.waitFor("7 events", func() bool { return len(h.eventsOf(id)) == 7 })
	ev := h.eventsOf(id)
	if last := ev[6]; last.Type != command.Terminated || last.Retention == nil || last.Retention.Strategy != customer.Indefinite {
		t.Fatalf("terminated event %+v", last)
	}
}

func TestForbiddenTransitionsChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()

	registered := uuid.NewString()
	mustApplied(t, h.send(registerCmd(registered, "registered-one")))
	terminated := uuid.NewString()
	mustApplied(t, h.send(registerCmd(terminated, "terminated-one")))
	mustApplied(t, h.send(terminateCmd(terminated, "NO_RETENTION", nil)))

	cases := []struct {
		name string
		cmd  *command.Command
		code customer.Code
	}{
		{"deactivate registered", newCmd(command.Deactivate, registered, nil), customer.CodeInvalidTransition},
		{"update contact of registered", contactCmd(registered), customer.CodeInvalidTransition},
		{"activate terminated", newCmd(command.Activate, terminated, nil), customer.CodeInvalidTransition},
		{"deactivate terminated", newCmd(command.Deactivate, terminated, nil), customer.CodeInvalidTransition},
		{"update contact of terminated", contactCmd(terminated), customer.CodeInvalidTransition},
		{"terminate terminated", terminateCmd(terminated, "NO_RETENTION", nil), customer.CodeInvalidTransition},
		{"unknown customer", newCmd(command.Activate, uuid.NewString(), nil), customer.CodeNotFound},
		{"stale version", func() *command.Command {
			c := newCmd(command.Activate, registered, nil)
			c.ExpectedVersion = at(7)
			return c
		}(), customer.CodeVersionConflict},
		{"space taken", registerCmd(uuid.NewString(), "registered-one"), customer.CodeConflict},
		{"id taken", registerCmd(registered, "another-space"), customer.CodeConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := h.store.Get(ctx, tc.cmd.CustomerID)
			mustRejected(t, h.send(tc.cmd), tc.code)
			after, _ := h.store.Get(ctx, tc.cmd.CustomerID)
			if before != nil && after.Version() != before.Version() {
				t.Fatalf("version moved from %d to %d", before.Version(), after.Version())
			}
		})
	}
	// The exact expected version applies.
	act := newCmd(command.Activate, registered, nil)
	act.ExpectedVersion = at(1)
	mustApplied(t, h.send(act))
	if n := len(h.twilio.Accounts()); n != 3 { // main + two sub-accounts; the rejected registers made none
		t.Fatalf("emulator holds %d accounts, want 3", n)
	}
}

func TestAnotherPartnersCustomerLooksMissing(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	id := uuid.NewString()
	mustApplied(t, h.send(registerCmd(id, "mine")))
	cmd := newCmd(command.Deactivate, id, nil)
	cmd.PartnerID = otherPartnerID
	o := h.send(cmd)
	mustRejected(t, o, customer.CodeNotFound)
	if o.Errors[0].Message != "customer "+id+" not found" {
		t.Fatalf("message %q differs from a missing customer's", o.Errors[0].Message)
	}
}

func TestDuplicateCommandsApplyOnce(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()
	id := uuid.NewString()
	reg := registerCmd(id, "dupes")
	firstReg := h.send(reg)
	mustApplied(t, firstReg)
	act := newCmd(command.Activate, id, nil)
	first := h.send(act)
	mustApplied(t, first)
	creates := h.twilio.Count(emulator.OpCreate)

	// Inside the de-duplication window JetStream drops the copy.
	b, _ := command.Encode(act)
	ack, err := h.gateway.Publish(ctx, command.CommandSubject(partnerID, id), b, jetstream.WithMsgID(act.ID))
	if err != nil || !ack.Duplicate {
		t.Fatalf("second publish: ack %+v err %v, want a duplicate", ack, err)
	}
	// Outside it (no Nats-Msg-Id, as a partner's plain publish), the Redis
	// idempotency record answers with the first outcome and changes nothing.
	h.forget(act.ID)
	if _, err := h.gateway.Publish(ctx, command.CommandSubject(partnerID, id), b); err != nil {
		t.Fatal(err)
	}
	again := h.outcome(act.ID)
	if again.Status != command.Applied || again.CustomerVersion != first.CustomerVersion || !again.ProcessedAt.Equal(first.ProcessedAt) {
		t.Fatalf("replayed outcome %+v, want the first %+v", again, first)
	}
	c, _ := h.store.Get(ctx, id)
	if c.Version() != 2 {
		t.Fatalf("version %d after a duplicate, want 2", c.Version())
	}

	// Truly after the window, with the same Nats-Msg-Id: shrink the command
	// stream's window (the replica above already ensured the streams), then
	// republish until JetStream takes the copy again. Both the register and
	// the activate answer with their first outcomes; nothing is applied
	// twice, and the register makes no second Twilio call.
	js, err := jetstream.New(h.stack.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	// Shrink it twice: nats-server (2.12) re-arms its de-dup purge timer
	// before it stores the new config, so under load the first purge can
	// still see the old 10-minute window and sleep for minutes. The second
	// update's purge runs with the first small window already in force.
	cfg := stream.CachedInfo().Config
	for _, w := range []time.Duration{150 * time.Millisecond, 100 * time.Millisecond} {
		cfg.Duplicates = w
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatalf("shrink the de-duplication window: %v", err)
		}
	}
	for _, tc := range []struct {
		cmd   *command.Command
		first *command.Outcome
	}{{reg, firstReg}, {act, first}} {
		h.forget(tc.cmd.ID)
		body := mustEncode(tc.cmd)
		h.waitFor("JetStream to accept "+string(tc.cmd.Type)+" again", func() bool {
			ack, err := h.gateway.Publish(ctx, command.CommandSubject(partnerID, id), body, jetstream.WithMsgID(tc.cmd.ID))
			if err != nil {
				t.Fatal(err)
			}
			return !ack.Duplicate
		})
		again := h.outcome(tc.cmd.ID)
		if again.Status != command.Applied || again.CustomerVersion != tc.first.CustomerVersion || !again.ProcessedAt.Equal(tc.first.ProcessedAt) {
			t.Fatalf("%s replayed after the window: %+v, want the first %+v", tc.cmd.Type, again, tc.first)
		}
	}
	c, _ = h.store.Get(ctx, id)
	hist, err := h.store.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != 2 || len(hist) != 2 {
		t.Fatalf("version %d, %d history entries after duplicates, want 2 and 2", c.Version(), len(hist))
	}
	if n := h.twilio.Count(emulator.OpCreate); n != creates {
		t.Fatalf("%d Twilio creates after the register's duplicate, want %d", n, creates)
	}
	if subs := h.twilio.Subaccounts(twilio.SubaccountName(id)); len(subs) != 1 {
		t.Fatalf("%d sub-accounts, want 1", len(subs))
	}
}

func TestBadMessagesAreRejectedAndDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()
	id := uuid.NewString()
	badPhone := contactCmd(id)
	wrongCustomer := newCmd(command.Activate, uuid.NewString(), nil)
	typo := newCmd(command.Activate, id, nil)
	typo.Type = "customer.explode"
	cases := []struct {
		name  string
		body  []byte
		msgID string // also the id the outcome is published under
		field string
	}{
		{"not json", []byte(`{"version":1,`), uuid.NewString(), ""},
		{"not utf-8", []byte("{\"version\":1,\"id\":\"\xff\"}"), uuid.NewString(), ""},
		{"duplicate key", []byte(`{"version":1,"version":2}`), uuid.NewString(), "version"},
		{"unknown field", []byte(`{"version":1,"id":"x","colour":"red"}`), uuid.NewString(), "colour"},
		{"unknown type", mustEncode(typo), typo.ID, "type"},
		{"bad phone", func() []byte {
			bad := spec
			bad.PhoneNumber = "416-555"
			badPhone.Payload = command.MustPayload(command.ContactInfoPayload{ContactInfo: &bad})
			return mustEncode(badPhone)
		}(), badPhone.ID, "payload.contactInfo.phoneNumber"},
		{"customer differs from subject", mustEncode(wrongCustomer), wrongCustomer.ID, "customerId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.gateway.Publish(ctx, command.CommandSubject(partnerID, id), tc.body, jetstream.WithMsgID(tc.msgID)); err != nil {
				t.Fatal(err)
			}
			o := h.outcome(tc.msgID)
			mustRejected(t, o, customer.CodeInvalid)
			if tc.field != "" && o.Errors[0].Field != tc.field {
				t.Fatalf("error names field %q (%v), want %q", o.Errors[0].Field, o.Err(), tc.field)
			}
			if o.PartnerID != partnerID {
				t.Fatalf("outcome partner %q, want the subject's", o.PartnerID)
			}
		})
	}
	// Every bad message is kept in the dead-letter stream, with its reason.
	js, err := jetstream.New(h.stack.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor("dead letters", func() bool {
		info, err := h.provisionerStreamInfo(natsbus.DeadLetterStream)
		return err == nil && info.State.Msgs == uint64(len(cases))
	})
	stream, err := js.Stream(ctx, natsbus.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	// What is known of each, never the message itself.
	for seq := uint64(1); seq <= uint64(len(cases)); seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		tc := cases[seq-1]
		if m.Header.Get(natsbus.HeaderDeadLetterReason) == "" || m.Header.Get(natsbus.HeaderOriginalSubject) == "" {
			t.Fatalf("dead letter %d lacks reason or subject: %v", seq, m.Header)
		}
		var dl command.DeadLetter
		dec := json.NewDecoder(bytes.NewReader(m.Data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&dl); err != nil {
			t.Fatalf("dead letter %d is not a command.DeadLetter: %v: %s", seq, err, m.Data)
		}
		if dl.CommandID != tc.msgID || dl.MsgID != tc.msgID || dl.PartnerID != partnerID || dl.CustomerID != id ||
			dl.Subject != m.Header.Get(natsbus.HeaderOriginalSubject) || dl.StreamSequence == 0 || dl.Size != len(tc.body) ||
			dl.Reason != m.Header.Get(natsbus.HeaderDeadLetterReason) || len(dl.Errors) == 0 || dl.DeadLetteredAt.IsZero() {
			t.Errorf("dead letter %d (%s): %s", seq, tc.name, m.Data)
		}
		if tc.field != "" && dl.Errors[0].Field != tc.field {
			t.Errorf("dead letter %d (%s) names field %q, want %q", seq, tc.name, dl.Errors[0].Field, tc.field)
		}
		if len(tc.body) > 20 && bytes.Contains(m.Data, tc.body) {
			t.Errorf("dead letter %d (%s) holds the message: %s", seq, tc.name, m.Data)
		}
	}
	if !bytes.Contains(mustGetDLQ(t, stream, 6), []byte(`"type":"customer.updateContactInfo"`)) {
		t.Error("the dead letter of a decodable command does not name its type")
	}
	// The command stream empties: nothing is left behind or lost. (The last
	// message is acknowledged just after its dead letter is written.)
	h.waitFor("an empty command stream", func() bool {
		info, err := h.provisionerStreamInfo(natsbus.CommandStream)
		if err != nil {
			t.Fatalf("command stream: %v", err)
		}
		return info.State.Msgs == 0
	})
}

func mustGetDLQ(t *testing.T, s jetstream.Stream, seq uint64) []byte {
	t.Helper()
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func mustEncode(c *command.Command) []byte {
	b, _ := command.Encode(c)
	return b
}
