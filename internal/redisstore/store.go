package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

// Store is the customers' state in Redis.
type Store struct {
	rdb redis.UniversalClient
	// acksSetting is how many replicas a durable write waits for
	// (AutoReplicaAcks: resolved into acks on first use).
	acksSetting int
	acks        acks
	// orphans holds the addresses of the masters last found without a
	// live replica (sendOnMaster).
	orphans sync.Map
}

// New returns a store over rdb. Its durable writes wait for as many
// replicas as WithMinReplicaAcks says, by default AutoReplicaAcks.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	s := &Store{rdb: rdb, acksSetting: AutoReplicaAcks}
	for _, o := range opts {
		o(s)
	}
	return s
}

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

// OutcomeTTL is how long a command's outcome (its idempotency record) is
// kept. It outlasts the command stream's MaxAge (a command can be
// redelivered until then) and the gateway's Idempotency-Key lifetime (a
// retried request answers from its commands' outcomes), so nothing is
// applied twice; after it, command(id) no longer knows the command.
const OutcomeTTL = 7 * 24 * time.Hour

// Outcome returns the stored outcome of partnerID's command commandID on
// customerID, nil if the command was not processed yet. Outcomes are
// scoped by partner: another partner's command with the same id is a
// different command.
func (s *Store) Outcome(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error) {
	raws, err := s.rdb.MGet(ctx, outcomeKey(customerID, partnerID, commandID), legacyOutcomeKey(customerID, commandID)).Result()
	if err != nil {
		return nil, fmt.Errorf("outcome of %s: %w", commandID, err)
	}
	for _, raw := range raws {
		str, ok := raw.(string)
		if !ok {
			continue
		}
		o, err := decodeOutcome(str)
		if err != nil {
			return nil, err
		}
		if o.PartnerID == partnerID || o.PartnerID == "" {
			return o, nil
		}
	}
	return nil, nil
}

// CommandOutcome looks a command up by id alone, through the command index:
// the outcome of partnerID's command with that id, or for partnerID ""
// (operators) of any partner's. Nil when none is stored.
func (s *Store) CommandOutcome(ctx context.Context, partnerID, commandID string) (*command.Outcome, error) {
	members, err := s.rdb.SMembers(ctx, commandIndexKey(commandID)).Result()
	if err != nil {
		return nil, fmt.Errorf("command index %s: %w", commandID, err)
	}
	for _, m := range members {
		p, cid, ok := strings.Cut(m, "/")
		if !ok || (partnerID != "" && p != partnerID) {
			continue
		}
		o, err := s.Outcome(ctx, p, cid, commandID)
		if err != nil || o != nil {
			return o, err
		}
	}
	// Commands indexed before the index was scoped by partner.
	cid, err := s.rdb.Get(ctx, legacyCommandIndexKey(commandID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("command index %s: %w", commandID, err)
	}
	raw, err := s.rdb.Get(ctx, legacyOutcomeKey(cid, commandID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outcome of %s: %w", commandID, err)
	}
	o, err := decodeOutcome(raw)
	if err != nil || (partnerID != "" && o.PartnerID != partnerID) {
		return nil, err
	}
	return o, nil
}

func decodeOutcome(raw string) (*command.Outcome, error) {
	var o command.Outcome
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, fmt.Errorf("decode outcome: %w", err)
	}
	return &o, nil
}

// IndexCommand records which customer partnerID's command id belongs to,
// so the command can be looked up by id alone (CommandOutcome). The index
// is a set: another partner using the same id adds to it and can neither
// replace nor see this entry. It is kept as long as outcomes. Idempotent.
func (s *Store) IndexCommand(ctx context.Context, partnerID, commandID, customerID string) error {
	if err := s.durably(ctx, s.indexCommandWrite(ctx, partnerID, commandID, customerID)); err != nil {
		return fmt.Errorf("index command %s: %w", commandID, err)
	}
	return nil
}

// indexCommandWrite adds partnerID's command to the command index and
// renews the index's lifetime: both commands always write (PEXPIRE of a
// key that exists), which a WAIT after them then covers.
func (s *Store) indexCommandWrite(ctx context.Context, partnerID, commandID, customerID string) write {
	k := commandIndexKey(commandID)
	return write{key: k, queue: func(p redis.Pipeliner) {
		p.SAdd(ctx, k, partnerID+"/"+customerID)
		p.PExpire(ctx, k, OutcomeTTL)
	}}
}

// Pending is what the gateway records about a command it sends, so
// command(id) can say PENDING before the outcome exists, and for how long
// that is true.
type Pending struct {
	CommandID  string       `json:"commandId"`
	Type       command.Type `json:"type"`
	CustomerID string       `json:"customerId"`
	PartnerID  string       `json:"partnerId"`
	At         time.Time    `json:"at"`
	// Published says JetStream acknowledged the command. The gateway
	// records the command before it publishes it, then again, Published,
	// when the publish was acknowledged but the outcome did not arrive
	// within the mutation.
	Published bool `json:"published,omitempty"`
	// Deadline is how long the command may stay PENDING without an
	// outcome: until its publish must have ended (not Published), or
	// until the command stream drops it unprocessed (Published). Past it
	// the gateway settles the command with a rejection. Zero in records
	// written before deadlines were.
	Deadline time.Time `json:"deadline,omitzero"`
}

func pendingKey(commandID string) string { return "cmdpending:{" + commandID + "}" }

// pendingTTL bounds how long a published command is remembered as pending;
// past that, a command that never produced an outcome reads as unknown.
const pendingTTL = 7 * 24 * time.Hour

// RecordPending remembers a command the gateway sends, replacing what
// was recorded about it.
func (s *Store) RecordPending(ctx context.Context, p Pending) error {
	b, _ := json.Marshal(p)
	k := pendingKey(p.CommandID)
	if err := s.writeDurably(ctx, k, func(pipe redis.Pipeliner) { pipe.Set(ctx, k, b, pendingTTL) }); err != nil {
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

func idempotencyKey(principal, key string) string {
	return "idem:{" + principal + "}:" + key
}

// bindScript binds an idempotency key to a request fingerprint unless it is
// bound already, and returns the fingerprint the key is bound to.
// A key bound already is rewritten as it is (a write WAIT can confirm).
var bindScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('SET', KEYS[1], v, 'KEEPTTL')
  return v
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`)

// BindIdempotencyKey binds principal's Idempotency-Key to fingerprint (a
// hash of the request) for ttl, unless it is bound already, and returns
// the fingerprint it is bound to: fingerprint itself for the first request
// and its retries, another for a different request with the same key. The
// record holds no response: responses may carry personal data.
func (s *Store) BindIdempotencyKey(ctx context.Context, principal, key, fingerprint string, ttl time.Duration) (string, error) {
	bound, err := s.runScript(ctx, bindScript, []string{idempotencyKey(principal, key)}, fingerprint, ttl.Milliseconds()).Text()
	if err != nil {
		return "", fmt.Errorf("idempotency record: %w", err)
	}
	// Records written before responses stopped being stored are JSON
	// objects holding the fingerprint.
	if strings.HasPrefix(bound, "{") {
		var old struct {
			Fingerprint string `json:"fingerprint"`
		}
		if err := json.Unmarshal([]byte(bound), &old); err != nil {
			return "", fmt.Errorf("decode idempotency record: %w", err)
		}
		bound = old.Fingerprint
	}
	return bound, nil
}

// PendingCommands returns every pending record the gateway keeps (a scan:
// for checkers and operators, not for the request path). On a Redis
// Cluster every master is scanned, since each holds its own slots' keys.
func (s *Store) PendingCommands(ctx context.Context) ([]Pending, error) {
	var mu sync.Mutex
	var ids []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, "cmdpending:{*}", 500).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(iter.Val(), "cmdpending:{"), "}"))
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("scan pending commands: %w", err)
	}
	out := make([]Pending, 0, len(ids))
	for _, id := range ids {
		p, err := s.PendingCommand(ctx, id)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}
