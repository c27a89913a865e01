// Package repositorytest is the contract of repository.Repository, as
// tests: Run runs them against any implementation, so every store keeps
// the same promises (internal/redisstore runs them against Redis).
package repositorytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
)

// Open returns an empty repository for one test.
type Open func(t *testing.T) repository.Repository

// Run runs every contract test against the repositories open returns, each
// as a subtest with a repository of its own.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		test func(t *testing.T, r repository.Repository)
	}{
		{"GetUnknown", testGetUnknown},
		{"Create", testCreate},
		{"CreateExisting", testCreateExisting},
		{"CreateIsIdempotent", testCreateIsIdempotent},
		{"Update", testUpdate},
		{"UpdateUnknown", testUpdateUnknown},
		{"UpdateRefused", testUpdateRefused},
		{"UpdateIsIdempotent", testUpdateIsIdempotent},
		{"UpdateRetriesOnRace", testUpdateRetriesOnRace},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Reject", testReject},
		{"RetryableRejectionIsReplaced", testRetryableRejectionIsReplaced},
		{"BadRecords", testBadRecords},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
}

const partnerID = "7f3c1c9e-2b1d-4c55-8a0e-6f1f5a3b2c10"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newCustomer returns a new, registered customer with a fresh id.
func newCustomer(t *testing.T) *customer.Customer {
	t.Helper()
	id := uuid.NewString()
	c, err := customer.New(id, partnerID, "0c0b2d5e-3f4a-4b6c-9d8e-1a2b3c4d5e6f", "space-"+id[:8], "Contract", t0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applied is the record of a command of type typ on customerID, applied at t.
func applied(customerID string, typ command.Type, at time.Time) repository.Applied {
	id := uuid.NewString()
	out := command.Outcome{
		Version: command.WireVersion, CommandID: id, Type: typ, CustomerID: customerID, PartnerID: partnerID,
		Status: command.Applied, Event: command.EventOf(typ), ProcessedAt: at,
	}
	ev := &command.Event{
		Version: command.WireVersion, ID: id, Type: command.EventOf(typ), CustomerID: customerID,
		PartnerID: partnerID, CommandID: id, Actor: "contract", OccurredAt: at,
	}
	return repository.Applied{Outcome: out, Event: ev, Actor: "contract"}
}

// rejection is a rejection of a new command on customerID.
func rejection(customerID string, retryable bool) command.Outcome {
	return command.Outcome{
		Version: command.WireVersion, CommandID: uuid.NewString(), Type: command.Activate, CustomerID: customerID,
		PartnerID: partnerID, Status: command.Rejected, Retryable: retryable, ProcessedAt: t0,
		Errors: customer.AsErrors(customer.Errorf(customer.CodeUnavailable, "not now")),
	}
}

// create stores a new customer and returns it as stored.
func create(t *testing.T, r repository.Repository) *customer.Customer {
	t.Helper()
	c := newCustomer(t)
	if _, err := r.Create(context.Background(), c, applied(c.ID(), command.Register, t0)); err != nil {
		t.Fatalf("create: %v", err)
	}
	return get(t, r, c.ID())
}

func get(t *testing.T, r repository.Repository, id string) *customer.Customer {
	t.Helper()
	c, err := r.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return c
}

// with is an Update function that changes the customer with change and
// records rec.
func with(rec repository.Applied, change func(c *customer.Customer) error) func(c *customer.Customer) (repository.Applied, error) {
	return func(c *customer.Customer) (repository.Applied, error) {
		if err := change(c); err != nil {
			return repository.Applied{}, err
		}
		return rec, nil
	}
}

// activate is a change that activates the customer.
func activate(c *customer.Customer) error { return c.Activate(t0) }

// wantOutcome checks that the outcome of rec's command is stored, equal to got.
func wantOutcome(t *testing.T, r repository.Repository, got *command.Outcome, status command.OutcomeStatus, version int64) {
	t.Helper()
	if got == nil || got.Status != status || got.CustomerVersion != version {
		t.Fatalf("outcome %+v, want %s at customer version %d", got, status, version)
	}
	stored, err := r.Outcome(context.Background(), got.PartnerID, got.CustomerID, got.CommandID)
	if err != nil {
		t.Fatal(err)
	}
	if stored == nil || stored.CommandID != got.CommandID || stored.Status != got.Status || stored.CustomerVersion != got.CustomerVersion {
		t.Fatalf("stored outcome %+v, want the one returned, %+v", stored, got)
	}
}

func testGetUnknown(t *testing.T, r repository.Repository) {
	_, err := r.Get(context.Background(), uuid.NewString())
	if customer.ErrorCode(err) != customer.CodeNotFound {
		t.Fatalf("get of an unknown id: %v, want NOT_FOUND", err)
	}
}

func testCreate(t *testing.T, r repository.Repository) {
	c := newCustomer(t)
	rec := applied(c.ID(), command.Register, t0)
	out, err := r.Create(context.Background(), c, rec)
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, r, out, command.Applied, 1)
	got := get(t, r, c.ID())
	want := c.Snapshot()
	want.Version = 1
	if got.Snapshot() != want {
		t.Fatalf("stored %+v, want %+v", got.Snapshot(), want)
	}
}

func testCreateExisting(t *testing.T, r repository.Repository) {
	c := create(t, r)
	again, err := customer.New(c.ID(), partnerID, c.IndustryID(), "other-space", "Other", t0)
	if err != nil {
		t.Fatal(err)
	}
	rec := applied(c.ID(), command.Register, t0)
	if _, err := r.Create(context.Background(), again, rec); customer.ErrorCode(err) != customer.CodeConflict {
		t.Fatalf("second create of %s: %v, want CONFLICT", c.ID(), err)
	}
	if got := get(t, r, c.ID()); got.Space() != c.Space() || got.Version() != 1 {
		t.Fatalf("the existing customer changed: %+v", got.Snapshot())
	}
	if o, err := r.Outcome(context.Background(), partnerID, c.ID(), rec.Outcome.CommandID); err != nil || o != nil {
		t.Fatalf("the refused create stored outcome %+v (%v)", o, err)
	}
}

func testCreateIsIdempotent(t *testing.T, r repository.Repository) {
	c := newCustomer(t)
	rec := applied(c.ID(), command.Register, t0)
	first, err := r.Create(context.Background(), c, rec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Create(context.Background(), c, rec)
	if err != nil {
		t.Fatalf("the same command again: %v, want its stored outcome", err)
	}
	if again.CommandID != first.CommandID || again.CustomerVersion != 1 {
		t.Fatalf("the same command again gave %+v, want %+v", again, first)
	}
	if v := get(t, r, c.ID()).Version(); v != 1 {
		t.Fatalf("version %d after a repeated create, want 1", v)
	}
}

func testUpdate(t *testing.T, r repository.Repository) {
	c := create(t, r)
	calls := 0
	out, err := r.Update(context.Background(), c.ID(), with(applied(c.ID(), command.Activate, t0), func(got *customer.Customer) error {
		calls++
		if got.Snapshot() != c.Snapshot() {
			return fmt.Errorf("fn got %+v, want the stored %+v", got.Snapshot(), c.Snapshot())
		}
		return got.Activate(t0)
	}))
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, r, out, command.Applied, 2)
	if got := get(t, r, c.ID()); got.Status() != customer.StatusActive || got.Version() != 2 || calls != 1 {
		t.Fatalf("after update: %s at version %d, fn called %d times; want ACTIVE at 2, once", got.Status(), got.Version(), calls)
	}
}

func testUpdateUnknown(t *testing.T, r repository.Repository) {
	id := uuid.NewString()
	_, err := r.Update(context.Background(), id, with(applied(id, command.Activate, t0), func(*customer.Customer) error {
		t.Error("fn called for an unknown customer")
		return nil
	}))
	if customer.ErrorCode(err) != customer.CodeNotFound {
		t.Fatalf("update of an unknown id: %v, want NOT_FOUND", err)
	}
}

func testUpdateRefused(t *testing.T, r repository.Repository) {
	c := create(t, r)
	why := errors.New("refused by the change")
	rec := applied(c.ID(), command.Activate, t0)
	_, err := r.Update(context.Background(), c.ID(), with(rec, func(c *customer.Customer) error {
		if err := c.Activate(t0); err != nil {
			return err
		}
		return why
	}))
	if !errors.Is(err, why) {
		t.Fatalf("update: %v, want fn's error as it is", err)
	}
	if got := get(t, r, c.ID()); got.Version() != 1 || got.Status() != customer.StatusRegistered {
		t.Fatalf("a refused update changed the customer: %+v", got.Snapshot())
	}
	if o, err := r.Outcome(context.Background(), partnerID, c.ID(), rec.Outcome.CommandID); err != nil || o != nil {
		t.Fatalf("a refused update stored outcome %+v (%v)", o, err)
	}
}

func testUpdateIsIdempotent(t *testing.T, r repository.Repository) {
	c := create(t, r)
	rec := applied(c.ID(), command.Activate, t0)
	if _, err := r.Update(context.Background(), c.ID(), with(rec, activate)); err != nil {
		t.Fatal(err)
	}
	// The same command again (a redelivery) finds its outcome: even a
	// change that would apply now is not made twice.
	out, err := r.Update(context.Background(), c.ID(), with(rec, func(c *customer.Customer) error {
		return c.Deactivate(t0)
	}))
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, r, out, command.Applied, 2)
	if got := get(t, r, c.ID()); got.Version() != 2 || got.Status() != customer.StatusActive {
		t.Fatalf("a repeated command changed the customer: %s at version %d", got.Status(), got.Version())
	}
}

func testUpdateRetriesOnRace(t *testing.T, r repository.Repository) {
	ctx := context.Background()
	c := create(t, r)
	if _, err := r.Update(ctx, c.ID(), with(applied(c.ID(), command.Activate, t0), activate)); err != nil {
		t.Fatal(err)
	}
	var seen []int64
	out, err := r.Update(ctx, c.ID(), with(applied(c.ID(), command.Deactivate, t0), func(got *customer.Customer) error {
		seen = append(seen, got.Version())
		if len(seen) == 1 {
			// Another command changes the customer between this load and its store.
			if _, err := r.Update(ctx, c.ID(), with(applied(c.ID(), command.UpdateContactInfo, t0), func(c *customer.Customer) error {
				return c.UpdateContactInfo("vault:v1:sealed", t0)
			})); err != nil {
				return err
			}
		}
		return got.Deactivate(t0)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != 2 || seen[1] != 3 {
		t.Fatalf("fn saw versions %v, want [2 3]: called again on the new state", seen)
	}
	wantOutcome(t, r, out, command.Applied, 4)
	// Had the first call's result been stored, the contact info would be lost.
	if got := get(t, r, c.ID()); got.Status() != customer.StatusDeactivated || got.ContactCiphertext() != "vault:v1:sealed" {
		t.Fatalf("after the race: %+v, want both changes", got.Snapshot())
	}
}

func testConcurrentUpdates(t *testing.T, r repository.Repository) {
	c := create(t, r)
	if _, err := r.Update(context.Background(), c.ID(), with(applied(c.ID(), command.Activate, t0), activate)); err != nil {
		t.Fatal(err)
	}
	const n = repository.MaxAttempts - 1 // each can lose at most n-1 races
	versions := make(chan int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sealed := fmt.Sprintf("vault:v1:%d", i)
			out, err := r.Update(context.Background(), c.ID(), with(applied(c.ID(), command.UpdateContactInfo, t0), func(c *customer.Customer) error {
				return c.UpdateContactInfo(sealed, t0)
			}))
			if err != nil {
				t.Errorf("concurrent update %d: %v", i, err)
				return
			}
			versions <- out.CustomerVersion
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		seen[v] = true
	}
	if len(seen) != n || get(t, r, c.ID()).Version() != 2+n {
		t.Fatalf("versions %v, final %d: want %d distinct versions ending at %d", seen, get(t, r, c.ID()).Version(), n, 2+n)
	}
}

func testReject(t *testing.T, r repository.Repository) {
	c := create(t, r)
	out := rejection(c.ID(), false)
	stored, err := r.Reject(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, r, stored, command.Rejected, 0)
	// The rejection is the command's outcome: the command applies no more.
	rec := applied(c.ID(), command.Activate, t0)
	rec.Outcome.CommandID, rec.Event.ID, rec.Event.CommandID = out.CommandID, out.CommandID, out.CommandID
	again, err := r.Update(context.Background(), c.ID(), with(rec, activate))
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != command.Rejected {
		t.Fatalf("the rejected command applied: %+v", again)
	}
	later := out
	later.Errors = customer.AsErrors(customer.Invalid("x", "another reason"))
	if first, err := r.Reject(context.Background(), later); err != nil || first.Errors[0].Message != out.Errors[0].Message {
		t.Fatalf("second rejection: %+v (%v), want the first one kept", first, err)
	}
	if got := get(t, r, c.ID()); got.Version() != 1 || got.Status() != customer.StatusRegistered {
		t.Fatalf("a rejection changed the customer: %+v", got.Snapshot())
	}
}

func testRetryableRejectionIsReplaced(t *testing.T, r repository.Repository) {
	c := create(t, r)
	out := rejection(c.ID(), true)
	if _, err := r.Reject(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	// The same command, sent again once the passing reason is gone, applies.
	rec := applied(c.ID(), command.Activate, t0)
	rec.Outcome.CommandID, rec.Event.ID, rec.Event.CommandID = out.CommandID, out.CommandID, out.CommandID
	stored, err := r.Update(context.Background(), c.ID(), with(rec, activate))
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, r, stored, command.Applied, 2)
}

func testBadRecords(t *testing.T, r repository.Repository) {
	ctx := context.Background()
	c := create(t, r)
	noID := applied(c.ID(), command.Activate, t0)
	noID.Outcome.CommandID = ""
	otherCustomer := applied(uuid.NewString(), command.Activate, t0)
	rejected := applied(c.ID(), command.Activate, t0)
	rejected.Outcome.Status = command.Rejected
	for name, rec := range map[string]repository.Applied{"no command id": noID, "another customer's": otherCustomer, "not applied": rejected} {
		if _, err := r.Update(ctx, c.ID(), with(rec, activate)); err == nil {
			t.Errorf("update with a record with %s: %v, want an error", name, err)
		}
	}
	if _, err := r.Reject(ctx, applied(c.ID(), command.Activate, t0).Outcome); err == nil {
		t.Error("Reject took an APPLIED outcome")
	}
	if got := get(t, r, c.ID()); got.Version() != 1 {
		t.Fatalf("bad records changed the customer to version %d", got.Version())
	}
}
