package provisioner_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/twilio/emulator"
)

// TestTerminateWhenTheSubaccountIsGone: Twilio no longer knows the
// customer's sub-account (404, code 20404). It is as closed as it gets, so
// the termination is applied, and its event carries the retention that
// destroys the key; otherwise the customer could never be terminated.
func TestTerminateWhenTheSubaccountIsGone(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()
	id := uuid.NewString()
	mustApplied(t, h.send(registerCmd(id, "gone-account")))
	c, err := h.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.twilio.Forget(c.TwilioSID()); err != nil {
		t.Fatal(err)
	}
	from := len(h.twilio.Requests())

	mustApplied(t, h.send(terminateCmd(id, "NO_RETENTION", nil)))
	if c, _ = h.store.Get(ctx, id); c.Status() != customer.StatusTerminated {
		t.Fatalf("customer %s, want TERMINATED", c.Status())
	}
	var term *command.Event
	h.waitFor("the terminated event", func() bool {
		for _, e := range h.eventsOf(id) {
			if e.Type == command.Terminated {
				term = &e
				return true
			}
		}
		return false
	})
	if term.Retention == nil || term.Retention.Strategy != customer.NoRetention {
		t.Fatalf("terminated event %+v, want NO_RETENTION", term)
	}
	// The close is one update (no read first), answered 404: nothing is
	// created and nothing changed.
	for _, r := range h.requestsSince(from) {
		if r.Op == emulator.OpCreate || (r.Op == emulator.OpUpdate && r.Status != http.StatusNotFound) {
			t.Fatalf("terminating a gone sub-account sent %+v", r)
		}
	}
}

// TestTerminateWithRefusedTwilioCredentials: Twilio refuses TextKit's
// credentials (they were rotated in Twilio and not here). Retrying cannot
// help, so the termination is rejected at once with a message an operator
// and a partner can act on, after one request, not retried in a loop. Once
// the credentials work again, the same command is applied.
func TestTerminateWithRefusedTwilioCredentials(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()
	id := uuid.NewString()
	mustApplied(t, h.send(registerCmd(id, "refused-creds")))
	c, err := h.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	token := h.twilio.AuthToken()
	if err := h.twilio.SetAuthToken("rotated" + uuid.NewString()[:8]); err != nil {
		t.Fatal(err)
	}
	from := len(h.twilio.Requests())

	cmd := terminateCmd(id, "NO_RETENTION", nil)
	o := h.send(cmd)
	mustRejected(t, o, customer.CodeUnavailable)
	if !o.Retryable || !strings.Contains(o.Err().Error(), "credentials") {
		t.Fatalf("rejection %+v (%v), want a retryable one that names the credentials", o, o.Err())
	}
	if n := len(h.requestsSince(from)); n != 1 {
		t.Fatalf("%d requests to Twilio, want the one that was refused (no retries)", n)
	}
	if c, _ := h.store.Get(ctx, id); c.Status() == customer.StatusTerminated {
		t.Fatal("terminated although the sub-account could not be closed")
	}

	// The operator fixes the credentials; the partner sends the same
	// command again (outside JetStream's de-duplication: no Nats-Msg-Id).
	if err := h.twilio.SetAuthToken(token); err != nil {
		t.Fatal(err)
	}
	h.forget(cmd.ID)
	b, err := command.Encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.stack.NATS.Connect(t, "gateway").PublishMsg(&nats.Msg{Subject: command.CommandSubject(cmd.PartnerID, cmd.CustomerID), Data: b}); err != nil {
		t.Fatal(err)
	}
	mustApplied(t, h.outcome(cmd.ID))
	if acct, _ := h.twilio.Account(c.TwilioSID()); acct.Status != emulator.StatusClosed {
		t.Fatalf("sub-account %s after the retry, want closed", acct.Status)
	}
}
