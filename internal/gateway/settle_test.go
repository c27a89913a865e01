package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/stacktest"
)

const commandQuery = `query($id: ID!) { command(id: $id) { state errors { code message } } }`

// commandState is command(id)'s state and first error code, as the partner sees it.
func (h *harness) commandState(id string) (state, code string) {
	h.t.Helper()
	r := h.do(h.PartnerKey, commandQuery, map[string]any{"id": id})
	var got struct {
		Command *struct {
			State  string
			Errors []struct{ Code string }
		}
	}
	if err := json.Unmarshal(r.Data, &got); err != nil || got.Command == nil {
		h.t.Fatalf("command(%s): %s (%v)", id, r.Raw, err)
	}
	if len(got.Command.Errors) > 0 {
		code = got.Command.Errors[0].Code
	}
	return got.Command.State, code
}

// lateDelivery is the provisioner applying a registration that reaches it
// after all: the store's first-wins Apply, as the provisioner calls it.
func lateDelivery(t *testing.T, h *harness, commandID, customerID string) (*command.Outcome, bool) {
	t.Helper()
	c, err := customer.New(customerID, stacktest.PartnerID, stacktest.IndustryID, "late-co", "Late Co", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := command.Outcome{Version: 1, CommandID: commandID, Type: command.Register, CustomerID: customerID, PartnerID: stacktest.PartnerID, Status: command.Applied, ProcessedAt: time.Now().UTC()}
	out, err := h.Store.Create(context.Background(), c, repository.Applied{Outcome: want})
	if err != nil {
		t.Fatal(err)
	}
	// fresh: this attempt's outcome is the one stored (not an earlier settlement).
	return out, out.Status == command.Applied && out.ProcessedAt.Equal(want.ProcessedAt)
}

// A publish that fails settles its command: the mutation answers
// UNAVAILABLE with the command id, command(id) says REJECTED, and the
// command, delivered late after all, is not applied.
func TestAFailedPublishIsSettledAndFinal(t *testing.T) {
	h := newHarness(t, nil)
	h.Pub.setHook(func(context.Context, *command.Command) error { return errors.New("nats: connection closed") })
	id := uuid.NewString()
	r := h.do(h.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response } }`,
		map[string]any{"in": map[string]any{"id": id, "space": "late-co", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Late Co"}})
	cmdID, _ := r.Errors[0].Extensions["commandId"].(string)
	if r.Code() != "UNAVAILABLE" || cmdID == "" {
		t.Fatalf("got %s, want UNAVAILABLE with the command id", r.Raw)
	}
	if state, code := h.commandState(cmdID); state != "REJECTED" || code != "UNAVAILABLE" {
		t.Fatalf("command(id) = %s %s, want REJECTED UNAVAILABLE", state, code)
	}
	out, fresh := lateDelivery(t, h, cmdID, id)
	if fresh || out.Status != command.Rejected {
		t.Fatalf("a late delivery was applied: fresh %v, outcome %+v", fresh, out)
	}
	if _, err := h.Store.Get(context.Background(), id); customer.ErrorCode(err) != customer.CodeNotFound {
		t.Fatalf("the customer exists after a settled registration: %v", err)
	}
}

// A publish that is never acknowledged ends with the mutation's timeout
// (plus the settlement's moment), settled like a failed one. The bound,
// MutationTimeout + 1s, is the requirement, not a speed target.
func TestAnUnacknowledgedPublishIsSettled(t *testing.T) {
	h := newHarness(t, nil)
	const timeout = 500 * time.Millisecond
	handler := h.newHandler(func(c *gateway.Config) { c.MutationTimeout = timeout })
	h.Pub.setHook(func(ctx context.Context, _ *command.Command) error {
		<-ctx.Done() // the acknowledgement never comes
		return ctx.Err()
	})
	start := time.Now()
	r := h.post(handler, h.PartnerKey, body(registerQuery("never-acked", `{ response }`), nil))
	if took := time.Since(start); took > timeout+time.Second {
		t.Fatalf("answered after %s, want within MutationTimeout (%s) + 1s", took, timeout)
	}
	cmdID, _ := r.Errors[0].Extensions["commandId"].(string)
	if r.Code() != "UNAVAILABLE" || cmdID == "" {
		t.Fatalf("got %s, want UNAVAILABLE with the command id", r.Raw)
	}
	if state, _ := h.commandState(cmdID); state != "REJECTED" {
		t.Fatalf("command(id) = %s, want REJECTED", state)
	}
}

// If the provisioner stored the outcome first (the publish reached JetStream
// and its acknowledgement was lost), the settlement yields to it and the
// mutation answers that outcome.
func TestASettlementYieldsToAnOutcomeStoredFirst(t *testing.T) {
	h := newHarness(t, nil)
	id := uuid.NewString()
	h.Pub.setHook(func(_ context.Context, c *command.Command) error {
		if out, fresh := lateDelivery(t, h, c.ID, id); !fresh || out.Status != command.Applied {
			t.Errorf("the provisioner's apply: fresh %v, %+v", fresh, out)
		}
		return errors.New("nats: timeout")
	})
	r := h.do(h.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response version commandId } }`,
		map[string]any{"in": map[string]any{"id": id, "space": "late-co", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Late Co"}})
	var got struct{ RegisterCustomer struct{ Response bool } }
	if err := json.Unmarshal(r.Data, &got); err != nil || !got.RegisterCustomer.Response {
		t.Fatalf("got %s, want the applied outcome", r.Raw)
	}
}

// command(id) of a command recorded but never published (its gateway died
// before publishing) says PENDING until the publish deadline, then settles
// it: REJECTED, for good. A published one stays PENDING until its own
// deadline (the command stream's MaxAge).
func TestCommandQuerySettlesAnOverduePendingCommand(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	record := func(published bool, deadline time.Time) string {
		p := redisstore.Pending{CommandID: uuid.NewString(), Type: command.Activate, CustomerID: uuid.NewString(), PartnerID: stacktest.PartnerID,
			At: time.Now().UTC(), Published: published, Deadline: deadline}
		if err := h.Store.RecordPending(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p.CommandID
	}
	soon := record(false, time.Now().Add(time.Hour))
	if state, _ := h.commandState(soon); state != "PENDING" {
		t.Fatalf("a command within its publish deadline: %s, want PENDING", state)
	}
	lost := record(false, time.Now().Add(-time.Second))
	for range 2 {
		if state, code := h.commandState(lost); state != "REJECTED" || code != "UNAVAILABLE" {
			t.Fatalf("a command past its publish deadline: %s %s, want REJECTED UNAVAILABLE", state, code)
		}
	}
	queued := record(true, time.Now().Add(time.Hour))
	if state, _ := h.commandState(queued); state != "PENDING" {
		t.Fatalf("a published command within the stream's MaxAge: %s, want PENDING", state)
	}
	expired := record(true, time.Now().Add(-time.Second))
	if state, _ := h.commandState(expired); state != "REJECTED" {
		t.Fatalf("a published command past the stream's MaxAge: %s, want REJECTED", state)
	}
}

// A request retried with its Idempotency-Key after a settlement runs
// again, under the next attempt's command id (the settled one is final),
// and a retry after that answers from the new outcome.
func TestARetryAfterASettlementRunsUnderANewCommandID(t *testing.T) {
	h := newHarness(t, nil)
	h.Pub.setHook(func(context.Context, *command.Command) error { return errors.New("nats: connection closed") })
	q := body(registerQuery("retried-co", `{ response commandId }`), nil)
	first := h.post(h.handler, h.PartnerKey, q, "Idempotency-Key", "retry-1")
	settled, _ := first.Errors[0].Extensions["commandId"].(string)
	if first.Code() != "UNAVAILABLE" || settled == "" {
		t.Fatalf("first attempt: %s", first.Raw)
	}
	var sent *command.Command
	h.Pub.setHook(func(_ context.Context, c *command.Command) error {
		sent = c
		return nil
	})
	second := h.post(h.handler, h.PartnerKey, q, "Idempotency-Key", "retry-1")
	var got struct {
		RegisterCustomer struct {
			Response  bool
			CommandID string
		}
	}
	if err := json.Unmarshal(second.Data, &got); err != nil || !got.RegisterCustomer.Response || got.RegisterCustomer.CommandID == settled {
		t.Fatalf("retry: %s, want applied under a command id other than %s", second.Raw, settled)
	}
	if sent == nil || sent.ID != got.RegisterCustomer.CommandID {
		t.Fatalf("the retry published %+v", sent)
	}
}

// hungKeys is a Vault that never answers an encryption.
type hungKeys struct{ fakeKeys }

func (hungKeys) Encrypt(ctx context.Context, _ string, _ []byte) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

// The mutation timeout bounds a mutation from its first check, not only
// from its publish: with Vault hung, a contact info update is answered
// TIMEOUT within it (and a second), and nothing is sent.
func TestAHungDependencyBeforeThePublishIsBoundedToo(t *testing.T) {
	h := newHarness(t, nil)
	const timeout = 500 * time.Millisecond
	handler := h.newHandler(func(c *gateway.Config) {
		c.MutationTimeout, c.KeyWait, c.Keys = timeout, 5*time.Second, hungKeys{}
	})
	id := uuid.NewString()
	c, err := customer.New(id, stacktest.PartnerID, stacktest.IndustryID, "hung-co", "Hung Co", time.Now())
	if err == nil {
		err = c.Activate(time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.Create(context.Background(), c, repository.Applied{
		Outcome: command.Outcome{Version: 1, CommandID: uuid.NewString(), Type: command.Register, CustomerID: id, PartnerID: stacktest.PartnerID, Status: command.Applied, ProcessedAt: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := h.doWith(handler, h.PartnerKey, `mutation { updateCustomerContactInfo(input: {id: "`+id+`", businessName: "Hung Co", phoneNumber: "+14165551212", addressLine1: "1 Main St", postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`, nil)
	if took := time.Since(start); took > timeout+time.Second {
		t.Fatalf("answered after %s, want within MutationTimeout (%s) + 1s: %s\n%s", took, timeout, r.Raw, h.Logs.String())
	}
	if r.Code() != "TIMEOUT" || r.Errors[0].Extensions["commandId"] != nil {
		t.Fatalf("got %s, want TIMEOUT without a command id (nothing sent)", r.Raw)
	}
	if n := h.Pub.calls.Load(); n != 0 {
		t.Fatalf("%d commands published", n)
	}
}

// A command the provisioner has claimed (it got the message, whose
// acknowledgement the gateway lost) is not settled: the mutation answers
// TIMEOUT with its id, and command(id) says PENDING until its outcome.
func TestAClaimedCommandIsNotSettled(t *testing.T) {
	h := newHarness(t, nil)
	h.Pub.setHook(func(_ context.Context, c *command.Command) error {
		if prev, err := h.Store.Claim(context.Background(), c.PartnerID, c.CustomerID, c.ID); err != nil || prev != nil {
			t.Errorf("the provisioner's claim: %+v, %v", prev, err)
		}
		return errors.New("nats: timeout")
	})
	r := h.do(h.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response } }`,
		map[string]any{"in": map[string]any{"space": "claimed-co", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Claimed Co"}})
	cmdID, _ := r.Errors[0].Extensions["commandId"].(string)
	if r.Code() != "TIMEOUT" || cmdID == "" {
		t.Fatalf("got %s, want TIMEOUT with the command id", r.Raw)
	}
	if state, _ := h.commandState(cmdID); state != "PENDING" {
		t.Fatalf("command(id) = %s, want PENDING", state)
	}
}
