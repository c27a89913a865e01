package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
)

// The outbox: an applied command's event is stored by Create or Update in
// the customer's outbox hash, in the same atomic step as the state change
// (apply), and removed once published (DeliveredEvent). The customer is
// listed in a global outbox index first (noteOutbox, before the script: a
// script may only touch one Redis Cluster slot), so that a relay can find
// events whose publisher died before it delivered them (OutboxDue,
// OutboxEvents).

// noteOutbox lists customerID in the outbox index, scored now; apply calls
// it before the script that puts an event in the customer's outbox. An
// index entry whose outbox is empty is harmless; the relay forgets it.
func (s *Store) noteOutbox(ctx context.Context, customerID string, now time.Time) error {
	if err := s.durably(ctx, zaddWrite(ctx, outboxIndexKey, float64(now.UnixMilli()), customerID)); err != nil {
		return fmt.Errorf("note outbox of %s: %w", customerID, err)
	}
	return nil
}

// DeliveredEvent removes a published event from customerID's outbox.
func (s *Store) DeliveredEvent(ctx context.Context, customerID, eventID string) error {
	if err := s.rdb.HDel(ctx, outboxKey(customerID), eventID).Err(); err != nil {
		return fmt.Errorf("mark event %s delivered: %w", eventID, err)
	}
	return nil
}

// OutboxEntry is a customer listed in the outbox index.
type OutboxEntry struct {
	CustomerID string
	// NotedAt is when an event was last put in the customer's outbox.
	NotedAt time.Time
}

// OutboxDue returns up to limit customers whose outbox was last noted
// before cutoff, oldest first.
func (s *Store) OutboxDue(ctx context.Context, cutoff time.Time, limit int) ([]OutboxEntry, error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, outboxIndexKey, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(cutoff.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox index: %w", err)
	}
	out := make([]OutboxEntry, 0, len(zs))
	for _, z := range zs {
		id, _ := z.Member.(string)
		out = append(out, OutboxEntry{CustomerID: id, NotedAt: time.UnixMilli(int64(z.Score))})
	}
	return out, nil
}

// OutboxEvents returns the events in customerID's outbox, in the order
// they happened (by customer version).
func (s *Store) OutboxEvents(ctx context.Context, customerID string) ([]*command.Event, error) {
	raw, err := s.rdb.HGetAll(ctx, outboxKey(customerID)).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", customerID, err)
	}
	evs := make([]*command.Event, 0, len(raw))
	for id, r := range raw {
		var e command.Event
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			return nil, fmt.Errorf("decode outbox event %s of %s: %w", id, customerID, err)
		}
		evs = append(evs, &e)
	}
	slices.SortFunc(evs, func(a, b *command.Event) int { return int(a.CustomerVersion - b.CustomerVersion) })
	return evs, nil
}

// forgetScript removes a customer from the outbox index if its outbox is
// still empty and nobody noted it again since it was read (same score).
// KEYS[1] the outbox index;
// ARGV[1] customer id, ARGV[2] the score read.
var forgetScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0`)

// ForgetOutbox removes e from the outbox index, unless the customer was
// noted again since e was read. Call it once the customer's outbox is
// found empty; a change noted later keeps its entry.
func (s *Store) ForgetOutbox(ctx context.Context, e OutboxEntry) error {
	if err := forgetScript.Run(ctx, s.rdb, []string{outboxIndexKey}, e.CustomerID, e.NotedAt.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("forget outbox of %s: %w", e.CustomerID, err)
	}
	return nil
}
