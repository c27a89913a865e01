// Package redisstore is the Redis adapter: it keeps customers' versioned
// state as the customer repository (repository.Repository: Create, Update,
// Reject), key records (internal/keys' rules), the key destruction
// schedule, API-key records (internal/access' rules), reference data and
// indexes. It holds persistence only; the rules are the domain packages'.
// Every command is recorded by one Lua script (apply.lua) that atomically
// checks the idempotency record and the version, writes the new state with
// version+1, appends the history entry, puts the event in the outbox and
// stores the outcome. All keys of one customer share the hash tag
// {<customerId>}, so the store works on Redis Cluster unchanged.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/telemetry"
)

// Config says how to reach Redis.
type Config struct {
	Addr     string
	Password string
	// AllowUnsafePersistence lets a service run against a Redis that could
	// lose acknowledged writes (no AOF, appendfsync other than always, or
	// an eviction policy). Off by default.
	AllowUnsafePersistence bool
}

// Validate reports a missing field.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("redis address is empty (set TEXTKIT_REDIS_ADDR, e.g. 127.0.0.1:6399)")
	}
	if strings.Contains(c.Addr, "://") {
		return fmt.Errorf("redis address %q must be host:port, without a scheme", c.Addr)
	}
	return nil
}

// Connect opens a client, pings it and checks persistence.
func Connect(ctx context.Context, cfg Config) (redis.UniversalClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:    []string{cfg.Addr},
		Password: cfg.Password,
	})
	rdb.AddHook(telemetry.RedisHook{})
	if err := rdb.Ping(ctx).Err(); err != nil {
		// the connection error is the one to report; the client is unusable either way
		_ = rdb.Close()
		if strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS") {
			return nil, fmt.Errorf("redis at %s refused the password: check TEXTKIT_REDIS_PASSWORD: %w", cfg.Addr, err)
		}
		return nil, fmt.Errorf("cannot reach redis at %s (is it running? scripts/up.sh starts it): %w", cfg.Addr, err)
	}
	if err := CheckPersistence(ctx, rdb); err != nil && !cfg.AllowUnsafePersistence {
		// the persistence error is the one to report
		_ = rdb.Close()
		return nil, fmt.Errorf("%w (set TEXTKIT_REDIS_ALLOW_UNSAFE_PERSISTENCE=true to run anyway)", err)
	}
	return rdb, nil
}

// ErrUnsafePersistence means Redis is configured so that it can lose writes
// it acknowledged.
var ErrUnsafePersistence = errors.New("redis can lose acknowledged writes")

// CheckPersistence returns ErrUnsafePersistence unless Redis has AOF on with
// appendfsync always and evicts nothing.
func CheckPersistence(ctx context.Context, rdb redis.UniversalClient) error {
	want := map[string]string{"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}
	var bad []string
	for k, v := range want {
		got, err := rdb.ConfigGet(ctx, k).Result()
		if err != nil {
			return fmt.Errorf("%w: cannot read its %s setting: %v", ErrUnsafePersistence, k, err)
		}
		if got[k] != v {
			bad = append(bad, fmt.Sprintf("%s is %q, want %q", k, got[k], v))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrUnsafePersistence, strings.Join(slices.Sorted(slices.Values(bad)), ", "))
	}
	return nil
}

// Key names. The part in braces is Redis Cluster's hash tag.
func customerKey(id string) string { return "cust:{" + id + "}" }
func historyKey(id string) string  { return "cust:{" + id + "}:history" }
func outcomeKey(id, partnerID, commandID string) string {
	return "cust:{" + id + "}:cmd:" + partnerID + ":" + commandID
}
func legacyOutcomeKey(id, commandID string) string  { return "cust:{" + id + "}:cmd:" + commandID }
func outboxKey(id string) string                    { return "cust:{" + id + "}:outbox" }
func keyStatusKey(id string) string                 { return "cust:{" + id + "}:key" }
func spaceKey(space string) string                  { return "space:{" + space + "}" }
func commandIndexKey(commandID string) string       { return "cmdix:{" + commandID + "}" }
func legacyCommandIndexKey(commandID string) string { return "cmdidx:{" + commandID + "}" }
func partnerIndexKey(partnerID string) string       { return "partner:{" + partnerID + "}:customers" }

const allCustomersKey = "customers:all"

// outboxIndexKey lists the customers whose outbox may hold undelivered
// events, scored by when an event was last put there (unix ms).
const outboxIndexKey = "outbox:customers"
