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
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/textkit/customers/internal/telemetry"
)

// Config says how to reach Redis.
type Config struct {
	// Addr is one host:port, or a comma-separated list of seed addresses
	// (host:port each) of a Redis Cluster, e.g.
	// "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003". Whether Redis is a
	// cluster is asked of the first seed that answers (INFO cluster), so a
	// single address may also be one node of a cluster.
	Addr     string
	Password string
	// AllowUnsafePersistence lets a service run against a Redis that could
	// lose acknowledged writes (no AOF, appendfsync other than always, or
	// an eviction policy). Off by default.
	AllowUnsafePersistence bool
}

// Validate reports a missing or malformed address.
func (c Config) Validate() error {
	_, err := c.Seeds()
	return err
}

// Seeds returns the addresses of Addr, each checked to be host:port.
func (c Config) Seeds() ([]string, error) {
	if strings.TrimSpace(c.Addr) == "" {
		return nil, errors.New("redis address is empty (set TEXTKIT_REDIS_ADDR, e.g. 127.0.0.1:6399)")
	}
	parts := strings.Split(c.Addr, ",")
	seeds := make([]string, 0, len(parts))
	for i, a := range parts {
		a = strings.TrimSpace(a)
		if err := validateSeed(a); err != nil {
			if len(parts) > 1 {
				return nil, fmt.Errorf("redis address %d of %q: %w", i+1, c.Addr, err)
			}
			return nil, err
		}
		if slices.Contains(seeds, a) {
			return nil, fmt.Errorf("redis address %q is listed twice in %q", a, c.Addr)
		}
		seeds = append(seeds, a)
	}
	return seeds, nil
}

func validateSeed(a string) error {
	if a == "" {
		return errors.New("redis address is empty (a list is host:port,host:port,... without empty entries)")
	}
	if strings.Contains(a, "://") {
		return fmt.Errorf("redis address %q must be host:port, without a scheme", a)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("redis address %q must be host:port: %w", a, err)
	}
	if host == "" {
		return fmt.Errorf("redis address %q has no host", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("redis address %q: port %q is not a number from 1 to 65535", a, port)
	}
	return nil
}

// Connect opens a client, pings it and checks persistence. With one
// address that is not a cluster node it is a plain client; otherwise
// (cluster_enabled:1 on the first seed that answers) a cluster client
// that finds every node from the seeds. Either way it is a
// redis.UniversalClient, and nothing else needs to know which.
func Connect(ctx context.Context, cfg Config) (redis.UniversalClient, error) {
	seeds, err := cfg.Seeds()
	if err != nil {
		return nil, err
	}
	cluster, err := isCluster(ctx, seeds, cfg.Password)
	if err != nil {
		return nil, err
	}
	if !cluster && len(seeds) > 1 {
		return nil, fmt.Errorf("redis at %s is not a cluster node (INFO cluster says cluster_enabled:0): "+
			"TEXTKIT_REDIS_ADDR lists several addresses only for a Redis Cluster", seeds[0])
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:         seeds,
		Password:      cfg.Password,
		IsClusterMode: cluster,
	})
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		FollowFailovers(cc)
	}
	rdb.AddHook(telemetry.RedisHook{})
	if err := rdb.Ping(ctx).Err(); err != nil {
		// the connection error is the one to report; the client is unusable either way
		_ = rdb.Close()
		return nil, connectError(strings.Join(seeds, ", "), err)
	}
	if err := CheckPersistence(ctx, rdb); err != nil && !cfg.AllowUnsafePersistence {
		// the persistence error is the one to report
		_ = rdb.Close()
		return nil, fmt.Errorf("%w (set TEXTKIT_REDIS_ALLOW_UNSAFE_PERSISTENCE=true to run anyway)", err)
	}
	return rdb, nil
}

// isCluster asks the seeds in turn, until one answers, whether Redis is
// a cluster (INFO cluster: cluster_enabled:1).
func isCluster(ctx context.Context, seeds []string, password string) (bool, error) {
	var lastErr error
	for _, a := range seeds {
		c := redis.NewClient(&redis.Options{Addr: a, Password: password, MaxRetries: -1})
		info, err := c.Info(ctx, "cluster").Result()
		// a probe: its close error changes nothing
		_ = c.Close()
		if err == nil {
			return strings.Contains(info, "cluster_enabled:1"), nil
		}
		if isAuthError(err) || ctx.Err() != nil {
			return false, connectError(a, err)
		}
		lastErr = err
	}
	return false, connectError(strings.Join(seeds, ", "), lastErr)
}

func isAuthError(err error) bool {
	return strings.Contains(err.Error(), "NOAUTH") || strings.Contains(err.Error(), "WRONGPASS")
}

func connectError(addrs string, err error) error {
	if isAuthError(err) {
		return fmt.Errorf("redis at %s refused the password: check TEXTKIT_REDIS_PASSWORD: %w", addrs, err)
	}
	return fmt.Errorf("cannot reach redis at %s (is it running? scripts/up.sh starts it): %w", addrs, err)
}

// ErrUnsafePersistence means Redis is configured so that it can lose writes
// it acknowledged.
var ErrUnsafePersistence = errors.New("redis can lose acknowledged writes")

// CheckPersistence returns ErrUnsafePersistence unless Redis has AOF on with
// appendfsync always and evicts nothing. On a Redis Cluster it checks every
// node CLUSTER NODES lists and does not say is down, masters and replicas
// (a replica is promoted when its master fails), each on a connection of
// its own.
func CheckPersistence(ctx context.Context, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		bad, err := unsafeSettings(ctx, rdb)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnsafePersistence, err)
		}
		if len(bad) > 0 {
			return fmt.Errorf("%w: %s", ErrUnsafePersistence, strings.Join(bad, ", "))
		}
		return nil
	}
	nodes, err := listClusterNodes(ctx, cc)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsafePersistence, err)
	}
	var mu sync.Mutex
	var problems []string
	var g errgroup.Group
	for _, n := range nodes {
		if n.gone() {
			continue // down: it is checked when a service next starts
		}
		g.Go(func() error {
			c := probe(cc, n.addr)
			// a probe: its close error changes nothing
			defer func() { _ = c.Close() }()
			bad, err := unsafeSettings(ctx, c)
			if err != nil {
				bad = []string{err.Error()}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, b := range bad {
				problems = append(problems, "node "+n.addr+": "+b)
			}
			return nil
		})
	}
	_ = g.Wait() // each node's error is a problem listed
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%w: %s", ErrUnsafePersistence, strings.Join(problems, ", "))
	}
	return nil
}

// unsafeSettings lists the settings of one Redis server that could lose
// acknowledged writes, sorted.
func unsafeSettings(ctx context.Context, rdb redis.Cmdable) ([]string, error) {
	want := map[string]string{"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}
	var bad []string
	for k, v := range want {
		got, err := rdb.ConfigGet(ctx, k).Result()
		if err != nil {
			return nil, fmt.Errorf("cannot read its %s setting: %w", k, err)
		}
		if got[k] != v {
			bad = append(bad, fmt.Sprintf("%s is %q, want %q", k, got[k], v))
		}
	}
	slices.Sort(bad)
	return bad, nil
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
