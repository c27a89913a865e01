package provisioner

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
	"github.com/textkit/customers/internal/redisstore"
)

// Store is the customer store (internal/redisstore.Store) as the
// provisioner uses it: the customer repository (repository.Repository:
// loading customers, recording each command's change or rejection, with
// the version bump, idempotency record and outbox event inside it), the
// indexes and the space claims, and the outbox relay's reads. Unless a
// method says otherwise, an error is a failure to reach Redis or to read
// what it holds, which the provisioner answers with a redelivery.
type Store interface {
	// References (HasPartner, HasIndustry, SpaceOwner) is what
	// customer.CheckRegistration looks up.
	customer.References
	// Repository: Get, Create (registrations), Update (every other
	// command), Reject, Outcome.
	repository.Repository

	// Claim returns the final outcome stored for partnerID's command
	// commandID on customerID; if there is none (or only a retryable
	// one), it claims the command for redisstore.ClaimTTL, so that the
	// gateway can no longer settle it as failed, and returns nil.
	Claim(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error)
	// IndexAndClaim is IndexCommand then Claim, in one round trip.
	IndexAndClaim(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error)
	// IndexCommand records which customer partnerID's command id belongs
	// to, so it can be looked up by id alone. Idempotent.
	IndexCommand(ctx context.Context, partnerID, commandID, customerID string) error
	// IndexCustomer adds a customer to its partner's list and the list of
	// all customers. Idempotent.
	IndexCustomer(ctx context.Context, partnerID, customerID string) error
	// ClaimSpace reserves space for customerID and returns the id of the
	// customer holding it: customerID when the claim succeeded or was
	// already ours, another id when the space is taken.
	ClaimSpace(ctx context.Context, space, customerID string) (owner string, err error)
	// ReleaseSpace drops customerID's claim on space (and nobody else's).
	ReleaseSpace(ctx context.Context, space, customerID string) error

	// DeliveredEvent removes a published event from customerID's outbox.
	DeliveredEvent(ctx context.Context, customerID, eventID string) error
	// OutboxDue returns up to limit customers whose outbox was last noted
	// before cutoff, oldest first.
	OutboxDue(ctx context.Context, cutoff time.Time, limit int) ([]redisstore.OutboxEntry, error)
	// OutboxEvents returns the events in customerID's outbox, in the order
	// they happened.
	OutboxEvents(ctx context.Context, customerID string) ([]*command.Event, error)
	// ForgetOutbox removes e from the outbox index unless the customer was
	// noted again since e was read.
	ForgetOutbox(ctx context.Context, e redisstore.OutboxEntry) error
}
