package stacktest_test

// What the provisioner trusts depends on who published: the gateway's
// subject vouches for the actor and for sealed contact info; a partner's
// subject does not. And a rejection for a passing reason can be retried
// with the same command id.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/stacktest"
)

// publishAndWait publishes cmd on subject as the partner's NATS user and
// waits for its outcome.
func publishAndWait(t *testing.T, s *stacktest.Stack, subject string, cmd *command.Command) *command.Outcome {
	t.Helper()
	nc := s.NATS.Connect(t, "gateway") // may publish both forms; reads every outcome
	sub, err := nc.SubscribeSync(command.OutcomeSubject(cmd.PartnerID, cmd.ID))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := command.Encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), subject, b, jetstream.WithMsgID(cmd.ID)); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no outcome for %s: %v", cmd.ID, err)
	}
	var o command.Outcome
	if err := json.Unmarshal(m.Data, &o); err != nil {
		t.Fatal(err)
	}
	return &o
}

func trustCommand(typ command.Type, customerID, actor string, payload any) *command.Command {
	c := &command.Command{Version: 1, ID: uuid.NewString(), Type: typ, CustomerID: customerID, PartnerID: stacktest.PartnerID, Actor: actor}
	if payload != nil {
		c.Payload = command.MustPayload(payload)
	}
	return c
}

func TestHistoryRecordsWhoReallyPublished(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	id := uuid.NewString()
	direct := trustCommand(command.Register, id, "operator:someone-else", command.RegisterPayload{Space: "trust-co", IndustryID: stacktest.IndustryID, Label: "Trust Co"})
	if o := publishAndWait(t, s, command.CommandSubject(stacktest.PartnerID, id), direct); o.Status != command.Applied {
		t.Fatalf("direct register: %+v", o)
	}
	r := s.Do(s.PartnerKey, `mutation { activateCustomer(input: {id: "`+id+`"}) }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("activate: %s", r.Raw)
	}
	r = s.Do(s.PartnerKey, `{ customer(id: "`+id+`") { history { version actor } } }`, nil)
	want := `{"customer":{"history":[{"version":1,"actor":"nats:` + stacktest.PartnerID + `"},{"version":2,"actor":"partner:` + stacktest.PartnerID + `"}]}}`
	got, _ := json.Marshal(r.Data)
	if string(got) != want {
		t.Fatalf("history %s, want %s", got, want)
	}
}

func TestSealedContactInfoFromAPartnerIsRejected(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	id := uuid.NewString()
	reg := trustCommand(command.Register, id, "", command.RegisterPayload{Space: "sealed-co", IndustryID: stacktest.IndustryID, Label: "Sealed Co"})
	publishAndWait(t, s, command.CommandSubject(stacktest.PartnerID, id), reg)
	publishAndWait(t, s, command.CommandSubject(stacktest.PartnerID, id), trustCommand(command.Activate, id, "", nil))
	bad := trustCommand(command.UpdateContactInfo, id, "", command.ContactInfoPayload{Sealed: "vault:v1:bm90IGEgcmVhbCBjaXBoZXJ0ZXh0"})
	o := publishAndWait(t, s, command.CommandSubject(stacktest.PartnerID, id), bad)
	if o.Status != command.Rejected || len(o.Errors) == 0 || o.Errors[0].Field != "payload.sealed" {
		t.Fatalf("sealed from a partner: %+v", o)
	}
}

func TestUnavailableRejectionCanBeRetriedWithTheSameID(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{NoKeyKeeper: true})
	id := uuid.NewString()
	subj := command.CommandSubject(stacktest.PartnerID, id)
	reg := trustCommand(command.Register, id, "", command.RegisterPayload{Space: "retry-co", IndustryID: stacktest.IndustryID, Label: "Retry Co"})
	publishAndWait(t, s, subj, reg)
	// Nobody creates the key: the activation waits (2s in stacktest), then
	// is rejected for a passing reason.
	act := trustCommand(command.Activate, id, "", nil)
	o := publishAndWait(t, s, subj, act)
	if o.Status != command.Rejected || o.Errors[0].Code != "UNAVAILABLE" || !o.Retryable {
		t.Fatalf("activation without a key: %+v", o)
	}
	if err := s.Vault.Client(t, s.Tokens.Retention).CreateKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	// The same command again, without Nats-Msg-Id (outside the de-dup
	// window in effect): processed again, now applied.
	nc := s.NATS.Connect(t, "gateway")
	sub, err := nc.SubscribeSync(command.OutcomeSubject(stacktest.PartnerID, act.ID))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := command.Encode(act)
	if err := nc.PublishMsg(&nats.Msg{Subject: subj, Data: b}); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Data), `"status":"APPLIED"`) {
		t.Fatalf("retried activation: %s", m.Data)
	}
}
