package redisstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

// Store is the customers' state in Redis.
type Store struct {
	rdb redis.UniversalClient
}

// New returns a store over rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Client returns the underlying client (for health checks).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// HistoryEntry is one line of a customer's history: which command made
// which version, when and by whom. It holds no personal data.
type HistoryEntry struct {
	Version   int64             `json:"version"`
	Event     command.EventType `json:"event"`
	At        time.Time         `json:"at"`
	Actor     string            `json:"actor,omitempty"`
	CommandID string            `json:"commandId"`
}

// Get returns the customer with id, or a customer.ErrNotFound-coded error.
func (s *Store) Get(ctx context.Context, id string) (*customer.Customer, error) {
	doc, err := s.rdb.HGet(ctx, customerKey(id), "doc").Result()
	if errors.Is(err, redis.Nil) {
		return nil, customer.Errorf(customer.CodeNotFound, "customer %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get customer %s: %w", id, err)
	}
	return decodeCustomer(doc)
}

func decodeCustomer(doc string) (*customer.Customer, error) {
	var snap customer.Snapshot
	if err := json.Unmarshal([]byte(doc), &snap); err != nil {
		return nil, fmt.Errorf("decode customer record: %w", err)
	}
	return customer.FromSnapshot(snap)
}

// GetMany returns the customers with ids, skipping missing ones, in order.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]*customer.Customer, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, customerKey(id), "doc")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("get customers: %w", err)
	}
	out := make([]*customer.Customer, 0, len(ids))
	for _, c := range cmds {
		doc, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cu, err := decodeCustomer(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, cu)
	}
	return out, nil
}

// History returns the customer's history, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]HistoryEntry, error) {
	raw, err := s.rdb.LRange(ctx, historyKey(id), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", id, err)
	}
	out := make([]HistoryEntry, 0, len(raw))
	for _, r := range raw {
		var h HistoryEntry
		if err := json.Unmarshal([]byte(r), &h); err != nil {
			return nil, fmt.Errorf("decode history of %s: %w", id, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// Outcome returns the stored outcome of a command on customerID, nil if the
// command was not processed yet.
func (s *Store) Outcome(ctx context.Context, customerID, commandID string) (*command.Outcome, error) {
	raw, err := s.rdb.Get(ctx, outcomeKey(customerID, commandID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outcome of %s: %w", commandID, err)
	}
	return decodeOutcome(raw)
}

// CommandOutcome looks a command up by id alone (through the command index).
func (s *Store) CommandOutcome(ctx context.Context, commandID string) (*command.Outcome, error) {
	cid, err := s.rdb.Get(ctx, commandIndexKey(commandID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("command index %s: %w", commandID, err)
	}
	return s.Outcome(ctx, cid, commandID)
}

func decodeOutcome(raw string) (*command.Outcome, error) {
	var o command.Outcome
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, fmt.Errorf("decode outcome: %w", err)
	}
	return &o, nil
}

//go:embed apply.lua
var applySource string

var applyScript = redis.NewScript(applySource)

// Change is what one command does to one customer.
type Change struct {
	CustomerID string
	CommandID  string
	// BaseVersion is the version the new state was computed from: 0 to
	// create the customer. Ignored for rejections.
	BaseVersion int64
	// State is the new state; nil records a rejection, which changes nothing.
	State   *customer.Customer
	History HistoryEntry
	Outcome command.Outcome
}

// ErrStale means the customer changed since the state was read: reload
// and compute the change again.
var ErrStale = errors.New("customer changed concurrently")

// Apply atomically records a command: if an outcome for the command id is
// already stored it is returned with fresh=false and nothing changes;
// otherwise, for an applied change, the customer must still be at
// BaseVersion (else ErrStale), its state is written at BaseVersion+1 and the
// history entry appended; then the outcome is stored. A rejection stores
// only the outcome.
func (s *Store) Apply(ctx context.Context, ch Change) (out *command.Outcome, fresh bool, err error) {
	keys := []string{customerKey(ch.CustomerID), historyKey(ch.CustomerID), outcomeKey(ch.CustomerID, ch.CommandID)}
	base, doc, hist := "reject", "", ""
	if ch.State != nil {
		snap := ch.State.Snapshot()
		snap.Version = ch.BaseVersion + 1
		ch.Outcome.CustomerVersion = snap.Version
		ch.History.Version = snap.Version
		d, err := json.Marshal(snap)
		if err != nil {
			return nil, false, fmt.Errorf("encode customer: %w", err)
		}
		h, err := json.Marshal(ch.History)
		if err != nil {
			return nil, false, fmt.Errorf("encode history: %w", err)
		}
		base, doc, hist = strconv.FormatInt(ch.BaseVersion, 10), string(d), string(h)
	}
	o, err := json.Marshal(ch.Outcome)
	if err != nil {
		return nil, false, fmt.Errorf("encode outcome: %w", err)
	}
	res, err := applyScript.Run(ctx, s.rdb, keys, string(o), base, doc, hist).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("apply command %s: %w", ch.CommandID, err)
	}
	code, _ := res[0].(int64)
	payload, _ := res[1].(string)
	switch code {
	case 0: // already processed
		prev, err := decodeOutcome(payload)
		return prev, false, err
	case 1:
		stored, err := decodeOutcome(payload)
		return stored, true, err
	case 2:
		return nil, false, fmt.Errorf("%w: customer %s is at version %q, change computed from %d", ErrStale, ch.CustomerID, payload, ch.BaseVersion)
	}
	return nil, false, fmt.Errorf("apply command %s: unexpected script result %v", ch.CommandID, res)
}

// IndexCommand records which customer a command id belongs to, so the
// command can be looked up by id alone. Idempotent.
func (s *Store) IndexCommand(ctx context.Context, commandID, customerID string) error {
	if err := s.rdb.Set(ctx, commandIndexKey(commandID), customerID, 0).Err(); err != nil {
		return fmt.Errorf("index command %s: %w", commandID, err)
	}
	return nil
}

// Pending is what the gateway records about a command it published, so
// command(id) can say PENDING before the outcome exists.
type Pending struct {
	CommandID  string       `json:"commandId"`
	Type       command.Type `json:"type"`
	CustomerID string       `json:"customerId"`
	PartnerID  string       `json:"partnerId"`
	At         time.Time    `json:"at"`
}

func pendingKey(commandID string) string { return "cmdpending:{" + commandID + "}" }

// pendingTTL bounds how long a published command is remembered as pending;
// past that, a command that never produced an outcome reads as unknown.
const pendingTTL = 7 * 24 * time.Hour

// RecordPending remembers a published command.
func (s *Store) RecordPending(ctx context.Context, p Pending) error {
	b, _ := json.Marshal(p)
	if err := s.rdb.Set(ctx, pendingKey(p.CommandID), b, pendingTTL).Err(); err != nil {
		return fmt.Errorf("record pending command %s: %w", p.CommandID, err)
	}
	return nil
}

// PendingCommand returns what the gateway recorded about a command, nil if nothing.
func (s *Store) PendingCommand(ctx context.Context, commandID string) (*Pending, error) {
	raw, err := s.rdb.Get(ctx, pendingKey(commandID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending command %s: %w", commandID, err)
	}
	var p Pending
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("decode pending command: %w", err)
	}
	return &p, nil
}

// IdempotentRecord is a stored response to a request with an Idempotency-Key.
type IdempotentRecord struct {
	Fingerprint string `json:"fingerprint"`
	Status      int    `json:"status"`
	Body        []byte `json:"body"`
}

func idempotencyKey(principal, key string) string {
	return "idem:{" + principal + "}:" + key
}

// IdempotentResponse returns the stored response for principal's key, nil if none.
func (s *Store) IdempotentResponse(ctx context.Context, principal, key string) (*IdempotentRecord, error) {
	raw, err := s.rdb.Get(ctx, idempotencyKey(principal, key)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency record: %w", err)
	}
	var r IdempotentRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("decode idempotency record: %w", err)
	}
	return &r, nil
}

// StoreIdempotentResponse keeps the first response for principal's key; a
// later one for the same key does not replace it.
func (s *Store) StoreIdempotentResponse(ctx context.Context, principal, key, fingerprint string, status int, body []byte, ttl time.Duration) error {
	b, _ := json.Marshal(IdempotentRecord{Fingerprint: fingerprint, Status: status, Body: body})
	if err := s.rdb.SetNX(ctx, idempotencyKey(principal, key), b, ttl).Err(); err != nil {
		return fmt.Errorf("store idempotency record: %w", err)
	}
	return nil
}
