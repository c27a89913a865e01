package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/customer"
)

// claimSpaceScript gives the space KEYS[1] to ARGV[1] unless it is taken,
// and returns its holder; a claim found is rewritten as it is (a write
// WAIT can confirm).
var claimSpaceScript = redis.NewScript(`
local owner = redis.call('GET', KEYS[1]) or ARGV[1]
redis.call('SET', KEYS[1], owner)
return owner`)

var releaseSpaceScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// ClaimSpace reserves space for customerID. It returns the id of the
// customer that holds the space: customerID when the claim succeeded (or
// was already ours, so a redelivered register is fine), another id when
// the space is taken. The claim is a separate key from the customer's
// (another hash slot), so it is taken before the customer is created and
// released if the registration is rejected.
func (s *Store) ClaimSpace(ctx context.Context, space, customerID string) (owner string, err error) {
	owner, err = s.runScript(ctx, claimSpaceScript, []string{spaceKey(space)}, customerID).Text()
	if err != nil {
		return "", fmt.Errorf("claim space %q: %w", space, err)
	}
	return owner, nil
}

// ReleaseSpace drops customerID's claim on space (and nobody else's).
func (s *Store) ReleaseSpace(ctx context.Context, space, customerID string) error {
	if err := s.runScript(ctx, releaseSpaceScript, []string{spaceKey(space)}, customerID).Err(); err != nil {
		return fmt.Errorf("release space %q: %w", space, err)
	}
	return nil
}

// SpaceOwner returns the id of the customer holding space, "" if none.
func (s *Store) SpaceOwner(ctx context.Context, space string) (string, error) {
	id, err := s.rdb.Get(ctx, spaceKey(space)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read space %q: %w", space, err)
	}
	return id, nil
}

// IndexCustomer adds a customer to its partner's list and the list of all
// customers. Idempotent.
func (s *Store) IndexCustomer(ctx context.Context, partnerID, customerID string) error {
	err := s.durably(ctx, zaddWrite(ctx, partnerIndexKey(partnerID), 0, customerID), zaddWrite(ctx, allCustomersKey, 0, customerID))
	if err != nil {
		return fmt.Errorf("index customer %s: %w", customerID, err)
	}
	return nil
}

// ListFilter selects customers for List.
type ListFilter struct {
	// PartnerID limits the list to one partner; "" lists every customer
	// (operators only).
	PartnerID string
	// Status, when set, keeps only customers in that status.
	Status customer.Status
	// After is the cursor: the id of the last customer of the previous page.
	After string
	// First is the page size, 1..100.
	First int
}

// Page is one page of customers, ordered by id.
type Page struct {
	Customers []*customer.Customer
	// HasNext says whether more customers follow.
	HasNext bool
}

// List returns a page of customers ordered by id. Cursors are stable
// under inserts: a page continues after the last id seen.
func (s *Store) List(ctx context.Context, f ListFilter) (Page, error) {
	if f.First <= 0 || f.First > 100 {
		return Page{}, customer.Invalid("first", "must be between 1 and 100")
	}
	key := allCustomersKey
	if f.PartnerID != "" {
		key = partnerIndexKey(f.PartnerID)
	}
	min := "-"
	if f.After != "" {
		min = "(" + f.After
	}
	var page Page
	batch := int64(f.First + 1)
	if f.Status != "" {
		batch = 200
	}
	for {
		ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: min, Stop: "+", ByLex: true, Count: batch}).Result()
		if err != nil {
			return Page{}, fmt.Errorf("list customers: %w", err)
		}
		if len(ids) == 0 {
			return page, nil
		}
		cs, err := s.GetMany(ctx, ids)
		if err != nil {
			return Page{}, err
		}
		for _, c := range cs {
			if f.Status != "" && c.Status() != f.Status {
				continue
			}
			if len(page.Customers) == f.First {
				page.HasNext = true
				return page, nil
			}
			page.Customers = append(page.Customers, c)
		}
		if int64(len(ids)) < batch {
			return page, nil
		}
		min = "(" + ids[len(ids)-1]
	}
}
