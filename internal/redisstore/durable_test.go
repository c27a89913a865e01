package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/testenv"
)

func TestParseMinReplicaAcks(t *testing.T) {
	for in, want := range map[string]int{"": redisstore.AutoReplicaAcks, "auto": redisstore.AutoReplicaAcks, "0": 0, "1": 1, " 2 ": 2, "5": 5} {
		if got, err := redisstore.ParseMinReplicaAcks(in); err != nil || got != want {
			t.Errorf("ParseMinReplicaAcks(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "6", "one", "1.5", "AUTO1"} {
		_, err := redisstore.ParseMinReplicaAcks(in)
		if err == nil || !strings.Contains(err.Error(), "TEXTKIT_REDIS_MIN_REPLICA_ACKS") || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseMinReplicaAcks(%q) = %v, want an error naming the setting and the value", in, err)
		}
	}
}

// A single server keeps writing without WAIT (auto is 0), and a setting
// it cannot meet is refused.
func TestReplicaAcksOnOneServer(t *testing.T) {
	ctx := context.Background()
	rdb, srv := redistest.Start(t)
	for _, opts := range [][]redisstore.Option{nil, {redisstore.WithMinReplicaAcks(0)}} {
		if n, err := redisstore.New(rdb, opts...).ReplicaAcks(ctx); err != nil || n != 0 {
			t.Errorf("ReplicaAcks on one server = %d, %v; want 0", n, err)
		}
	}
	_, err := redisstore.New(rdb, redisstore.WithMinReplicaAcks(1)).ReplicaAcks(ctx)
	if err == nil || !strings.Contains(err.Error(), "server "+srv.Addr+" has 0 replicas") {
		t.Fatalf("ReplicaAcks(1) on a server without replicas = %v, want it refused", err)
	}
}

// On a Redis Cluster with replicas every durable write is on a replica
// when the store returns, and a write no replica confirms fails
// retryably and is answered, once, when the replica is back.
func TestDurableWritesOnRedisCluster(t *testing.T) {
	rdb, cl := redistest.StartCluster(t)
	ctx := context.Background()
	s := redisstore.New(rdb)
	if n, err := s.ReplicaAcks(ctx); err != nil || n != 1 {
		t.Fatalf("ReplicaAcks (auto) on a cluster with a replica per master = %d, %v; want 1", n, err)
	}
	_, err := redisstore.New(rdb, redisstore.WithMinReplicaAcks(2)).ReplicaAcks(ctx)
	if err == nil || !strings.Contains(err.Error(), "has 1 replicas") {
		t.Fatalf("ReplicaAcks(2) with one replica per master = %v, want it refused", err)
	}
	t.Run("AcknowledgedIsOnTheReplica", func(t *testing.T) { testAcknowledgedIsOnTheReplica(t, s, cl) })
	t.Run("NoReplicaFailsRetryablyThenAppliesOnce", func(t *testing.T) { testNoReplicaFailsRetryably(t, s, cl) })
}

// replicaClient is a client of replica r that reads (READONLY) what r
// holds itself.
func replicaClient(t *testing.T, r *testenv.Redis, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: password,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Each write the store returns from is read on the replica at once.
func testAcknowledgedIsOnTheReplica(t *testing.T, s *redisstore.Store, cl *redistest.Cluster) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	onReplica := func(key string) *redis.Client { return replicaClient(t, cl.ReplicaOf(t, key), cl.Password) }
	for i := range 10 {
		id, partner := uuid.NewString(), uuid.NewString()
		k := "cust:{" + id + "}"
		c, err := customer.New(id, partner, uuid.NewString(), "durable-"+id[:8], "Durable", at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, c, appliedRecord(c, command.Register, at)); err != nil {
			t.Fatal(err)
		}
		act := appliedRecord(c, command.Activate, at)
		if _, err := s.Update(ctx, id, func(c *customer.Customer) (repository.Applied, error) { return act, c.Activate(at) }); err != nil {
			t.Fatal(err)
		}
		r := onReplica(k)
		if v, err := r.HGet(ctx, k, "version").Result(); err != nil || v != "2" {
			t.Fatalf("customer %d: version on the replica right after the apply = %q, %v; want 2", i, v, err)
		}
		outcome := k + ":cmd:" + partner + ":" + act.Outcome.CommandID
		if n, err := r.Exists(ctx, outcome, k+":outbox", k+":history").Result(); err != nil || n != 3 {
			t.Fatalf("customer %d: outcome, outbox and history on the replica: %d of 3, %v", i, n, err)
		}
		next := uuid.NewString()
		if o, err := s.IndexAndClaim(ctx, partner, id, next); err != nil || o != nil {
			t.Fatalf("IndexAndClaim = %+v, %v", o, err)
		}
		if n, err := r.Exists(ctx, k+":claim:"+partner+":"+next).Result(); err != nil || n != 1 {
			t.Fatalf("customer %d: claim on the replica: %d, %v", i, n, err)
		}
		if n, err := onReplica("cmdix:{"+next+"}").Exists(ctx, "cmdix:{"+next+"}").Result(); err != nil || n != 1 {
			t.Fatalf("customer %d: command index on the replica: %d, %v", i, n, err)
		}
		if err := s.ScheduleKeyDestruction(ctx, id, at); err != nil {
			t.Fatal(err)
		}
		if _, err := onReplica("retention:schedule").ZScore(ctx, "retention:schedule", id).Result(); err != nil {
			t.Fatalf("customer %d: schedule entry on the replica: %v", i, err)
		}
		if err := s.SetKeyStatus(ctx, id, keys.Record{State: keys.Active}); err != nil {
			t.Fatal(err)
		}
		if st, err := r.HGet(ctx, k+":key", "state").Result(); err != nil || st != string(keys.Active) {
			t.Fatalf("customer %d: key record on the replica = %q, %v", i, st, err)
		}
	}
}

// With a master's replica down, an activation fails retryably until the
// cluster agrees the replica is dead (its FAIL flag); then the master,
// without a live replica, takes writes unconfirmed (on its append-only
// file only) and the redelivered command is applied once; once the
// replica is back, writes wait for it again. Where the failed activation
// stopped depends on which master lost its replica: the customer's (the
// activation is on the master, unconfirmed: the redelivery finds its
// outcome) or the outbox index's, written first (the activation is not
// written: the redelivery applies it). Customers are picked so that each
// case happens.
func testNoReplicaFailsRetryably(t *testing.T, s *redisstore.Store, cl *redistest.Cluster) {
	index := cl.MasterOf(t, "outbox:customers")
	for _, tc := range []struct {
		name          string
		onIndexMaster bool
	}{{"CustomersMaster", false}, {"OutboxIndexMaster", true}} {
		t.Run(tc.name, func(t *testing.T) {
			id := uuid.NewString()
			for (cl.MasterOf(t, "cust:{"+id+"}") == index) != tc.onIndexMaster {
				id = uuid.NewString()
			}
			testNoReplica(t, s, cl, id, !tc.onIndexMaster)
		})
	}
}

// testNoReplica kills the replica of customer id's master, activates the
// customer, and checks the failure and the redelivery; written says
// whether the failed activation is on the master.
func testNoReplica(t *testing.T, s *redisstore.Store, cl *redistest.Cluster, id string, written bool) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := "cust:{" + id + "}"
	c, err := customer.New(id, uuid.NewString(), uuid.NewString(), "noreplica-"+id[:8], "No replica", at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, c, appliedRecord(c, command.Register, at)); err != nil {
		t.Fatal(err)
	}
	master, replica := cl.MasterOf(t, k), cl.ReplicaOf(t, k)
	before := shortfalls(t)
	replica.Kill(t)
	// Well within the cluster's node timeout (1 s): the replica is not
	// yet agreed dead, so the writes fail (WAIT gets half the deadline).
	soon := func() context.Context {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	act := appliedRecord(c, command.Activate, at.Add(time.Second))
	activate := func(c *customer.Customer) (repository.Applied, error) { return act, c.Activate(at) }
	_, err = s.Update(soon(), id, activate)
	if !errors.Is(err, redisstore.ErrReplicaAcks) || !failure.IsTransient(err) {
		t.Fatalf("activation right after the replica's loss: %v, want a transient ErrReplicaAcks", err)
	}
	if got := shortfalls(t); got <= before {
		t.Errorf("textkit_redis_replica_ack_shortfalls_total = %v after a shortfall, was %v", got, before)
	}
	if v, err := master.Do("HGET", k, "version"); err != nil || (v == "2") != written {
		t.Fatalf("version on the master after the failed activation = %v, %v; want it written: %v", v, err, written)
	}
	// A redelivery while the replica is not yet agreed dead fails the same way.
	if _, err := s.IndexAndClaim(soon(), c.PartnerID(), id, act.Outcome.CommandID); !errors.Is(err, redisstore.ErrReplicaAcks) {
		t.Fatalf("claim right after the replica's loss: %v, want ErrReplicaAcks", err)
	}

	// Once the cluster flags the replica failed, the master has no live
	// replica: the redelivery is taken without one.
	testenv.Eventually(t, 30*time.Second, func() error {
		reply, err := master.Do("CLUSTER", "NODES")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(reply.(string), "\n") {
			if strings.Contains(line, replica.Addr+"@") && strings.Contains(line, "fail") && !strings.Contains(line, "fail?") {
				return nil
			}
		}
		return fmt.Errorf("%s does not flag %s failed yet", master.Addr, replica.Addr)
	})
	unreplicated := testenv.Metric(t, "textkit_redis_unreplicated_writes_total")
	// The redelivery (the provisioner claims first) finds the outcome, or
	// claims the command and applies it.
	o, err := s.IndexAndClaim(ctx, c.PartnerID(), id, act.Outcome.CommandID)
	switch {
	case err != nil:
		t.Fatalf("claim of the redelivered activation, the replica agreed dead: %v", err)
	case written && (o == nil || o.Status != command.Applied || o.CustomerVersion != 2):
		t.Fatalf("claim of the redelivered activation = %+v; want its stored outcome", o)
	case !written && o != nil:
		t.Fatalf("claim of the redelivered activation = %+v; want it claimed, nothing stored", o)
	case !written:
		if o, err := s.Update(ctx, id, activate); err != nil || o.Status != command.Applied || o.CustomerVersion != 2 {
			t.Fatalf("redelivered activation = %+v, %v; want it applied at version 2", o, err)
		}
	}
	if got := testenv.Metric(t, "textkit_redis_unreplicated_writes_total"); got <= unreplicated {
		t.Errorf("textkit_redis_unreplicated_writes_total = %v after writes on a master without a replica, was %v", got, unreplicated)
	}

	// Back, the replica gets everything in its sync; writes wait for it
	// again.
	replica.Start(t)
	cl.WaitHealthy(t)
	rej := act.Outcome
	rej.Status, rej.Event = command.Rejected, ""
	if o, err := s.Reject(ctx, rej); err != nil || o.Status != command.Applied {
		t.Fatalf("recording the activation again = %+v, %v; want its stored outcome", o, err)
	}
	hist, err := s.History(ctx, id)
	if err != nil || len(hist) != 2 || hist[1].CommandID != act.Outcome.CommandID {
		t.Fatalf("history = %+v, %v; want register, activate once each", hist, err)
	}
	if v, err := replicaClient(t, replica, cl.Password).HGet(ctx, k, "version").Result(); err != nil || v != "2" {
		t.Fatalf("version on the replica = %q, %v; want 2", v, err)
	}
	deact := appliedRecord(c, command.Deactivate, at.Add(2*time.Second))
	if _, err := s.Update(ctx, id, func(c *customer.Customer) (repository.Applied, error) { return deact, c.Deactivate(at) }); err != nil {
		t.Fatal(err)
	}
	if v, err := replicaClient(t, replica, cl.Password).HGet(ctx, k, "version").Result(); err != nil || v != "3" {
		t.Fatalf("version on the replica right after a write with the replica back = %q, %v; want 3", v, err)
	}
}

// shortfalls reads textkit_redis_replica_ack_shortfalls_total.
func shortfalls(t *testing.T) float64 {
	t.Helper()
	return testenv.Metric(t, "textkit_redis_replica_ack_shortfalls_total")
}
