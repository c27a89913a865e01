package gateway

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/redisstore"
)

// OutcomeReader reads stored command outcomes (internal/redisstore.Store):
// what Outcomes polls for when an outcome message may have been missed.
type OutcomeReader interface {
	// Outcome returns the stored outcome of partnerID's command commandID
	// on customerID, nil if the command was not processed yet; an error
	// is a failure to reach Redis or to read what it holds.
	Outcome(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error)
}

// Store is the Redis store (internal/redisstore.Store) as the gateway uses
// it: it looks up API keys (access.Authenticate checks them), reads
// customers, outcomes and reference data for queries, records published
// commands, refusals and Idempotency-Keys, and manages partners and
// industries. Unless a method says otherwise, an error is a failure to
// reach Redis or to read what it holds.
type Store interface {
	// References (HasPartner, HasIndustry, SpaceOwner) is what
	// customer.CheckRegistration looks up.
	customer.References
	OutcomeReader

	// KeyReader (APIKey) looks up the record of a presented API key, which
	// access.Authenticate checks.
	access.KeyReader
	// RateBuckets (TakeRateToken) keeps the partner and operator rate
	// limits, shared by every replica.
	RateBuckets
	// BindIdempotencyKey binds principal's Idempotency-Key to fingerprint
	// for ttl unless it is bound already, and returns the fingerprint it
	// is bound to (another one for a different request with the same key).
	BindIdempotencyKey(ctx context.Context, principal, key, fingerprint string, ttl time.Duration) (string, error)

	// Get returns the customer with id; an unknown id gives an error
	// coded customer.CodeNotFound (customer.ErrNotFound).
	Get(ctx context.Context, id string) (*customer.Customer, error)
	// List returns a page of customers ordered by id.
	List(ctx context.Context, f redisstore.ListFilter) (redisstore.Page, error)
	// History returns the customer's history, oldest first.
	History(ctx context.Context, id string) ([]redisstore.HistoryEntry, error)
	// KeyStatus returns the customer's key record (State PENDING when
	// retention has recorded nothing yet). A record that cannot be read
	// gives an error matching keys.ErrUnreadable.
	KeyStatus(ctx context.Context, customerID string) (keys.Record, error)

	// CommandOutcome returns the outcome of partnerID's command with that
	// id, or for partnerID "" (operators) of any partner's; nil when none
	// is stored.
	CommandOutcome(ctx context.Context, partnerID, commandID string) (*command.Outcome, error)
	// Reject stores a rejection as the outcome of its command unless an
	// outcome of that command is stored already, and returns the outcome
	// stored (repository.Repository.Reject).
	Reject(ctx context.Context, out command.Outcome) (*command.Outcome, error)
	// IndexCommand records which customer partnerID's command belongs to,
	// so that CommandOutcome finds the outcome the gateway stores for it.
	IndexCommand(ctx context.Context, partnerID, commandID, customerID string) error
	// Settle stores the gateway's rejection of a command it could not
	// confirm sent, unless a final outcome is stored already (returned
	// with fresh=false) or the provisioner has claimed the command (an
	// error matching redisstore.ErrClaimed).
	Settle(ctx context.Context, rejection command.Outcome) (out *command.Outcome, fresh bool, err error)
	// RecordPending remembers a command the gateway sends (before and
	// once it is published), replacing what was recorded.
	RecordPending(ctx context.Context, p redisstore.Pending) error
	// PendingCommand returns what the gateway recorded about a command,
	// nil if nothing.
	PendingCommand(ctx context.Context, commandID string) (*redisstore.Pending, error)

	// Partners lists every partner by name.
	Partners(ctx context.Context) ([]redisstore.Partner, error)
	// Industries lists every industry by name.
	Industries(ctx context.Context) ([]redisstore.Industry, error)
	// PutPartner creates or renames a partner.
	PutPartner(ctx context.Context, p redisstore.Partner) error
	// PutIndustry creates or renames an industry.
	PutIndustry(ctx context.Context, i redisstore.Industry) error
}
