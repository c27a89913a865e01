package retention

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/redisstore"
)

// Store is the Redis store (internal/redisstore.Store) as retention uses
// it: the customers' key records (internal/keys holds their rules) and the
// schedule of key destructions.
// Unless a method says otherwise, an error is a failure to reach Redis or
// to read what it holds, which retention retries (next delivery or sweep).
type Store interface {
	// KeyStatus returns the customer's key record; State is PENDING when
	// nothing was recorded yet. A record that cannot be read gives an
	// error matching keys.ErrUnreadable together with the fields that
	// could be read: the caller must not act on it.
	KeyStatus(ctx context.Context, customerID string) (keys.Record, error)
	// AdvanceKeyStatus records r over the stored record by keys.Advance's
	// rule, atomically (states only move forward), and returns the record
	// as stored afterwards and whether the state changed. A stored record
	// that cannot be read gives an error matching keys.ErrUnreadable.
	AdvanceKeyStatus(ctx context.Context, customerID string, r keys.Record) (keys.Record, bool, error)
	// MarkKeyEventPublished notes that the key event of type t was
	// published for the customer, so it is not published again.
	MarkKeyEventPublished(ctx context.Context, customerID string, t command.EventType) error

	// ScheduleKeyDestruction adds the customer's key to the schedule, due
	// at at; an entry already there (scheduled or claimed) is left alone.
	ScheduleKeyDestruction(ctx context.Context, customerID string, at time.Time) error
	// ClaimDueKeyDestructions atomically claims up to limit entries due at
	// now, oldest first, for lease.
	ClaimDueKeyDestructions(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]redisstore.Claim, error)
	// ClaimKeyDestruction claims the customer's entry if it is due at now;
	// ok is false when there is no entry, it is not due yet, or another
	// replica holds it.
	ClaimKeyDestruction(ctx context.Context, customerID string, now time.Time, lease time.Duration) (c redisstore.Claim, ok bool, err error)
	// CompleteKeyDestruction removes a claimed entry once the key is
	// destroyed and recorded. ok is false when the claim had been lost;
	// then nothing changed.
	CompleteKeyDestruction(ctx context.Context, c redisstore.Claim) (ok bool, err error)
	// ReleaseKeyDestruction gives a claimed entry back unchanged, due when
	// it was before the claim. ok is false when the claim had been lost.
	ReleaseKeyDestruction(ctx context.Context, c redisstore.Claim) (ok bool, err error)
	// PostponeKeyDestruction gives a claimed entry back due at at, never
	// earlier than before the claim. ok is false when the claim had been
	// lost.
	PostponeKeyDestruction(ctx context.Context, c redisstore.Claim, at time.Time) (ok bool, err error)
	// RescheduleKeyDestruction gives a claimed entry back due at at (never
	// earlier than before the claim) and makes at the date it becomes
	// due. ok is false when the claim had been lost.
	RescheduleKeyDestruction(ctx context.Context, c redisstore.Claim, at time.Time) (ok bool, err error)
	// KeyDestructionsOverdue returns the destructions due at now and not
	// done.
	KeyDestructionsOverdue(ctx context.Context, now time.Time) (redisstore.Overdue, error)
}
