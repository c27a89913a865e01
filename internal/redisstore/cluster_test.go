package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
)

// onCluster is, while TestOnRedisCluster runs, the cluster that newClient
// hands out (emptied first) instead of starting a server.
var onCluster *redis.ClusterClient

// newClient returns a client of an empty Redis: a new single server whose
// every script, multi-key command and transaction is checked to touch one
// cluster slot only (redistest.CheckSlots), or under TestOnRedisCluster
// the cluster.
func newClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	if onCluster != nil {
		err := onCluster.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
			return m.FlushAll(ctx).Err()
		})
		if err != nil {
			t.Fatalf("empty the cluster: %v", err)
		}
		return onCluster
	}
	rdb, _ := redistest.Start(t)
	redistest.CheckSlots(t, rdb)
	return rdb
}

// The store's tests, run again on a real Redis Cluster (three masters with
// a replica each): every Lua script and multi-key command must find its
// keys in one slot, or the cluster refuses it (CROSSSLOT). The tests that
// restart a single server are left out.
func TestOnRedisCluster(t *testing.T) {
	rdb, cl := redistest.StartCluster(t)
	t.Run("Connect", func(t *testing.T) { testConnectToCluster(t, cl) })
	onCluster = rdb
	t.Cleanup(func() { onCluster = nil })
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"RepositoryContract", TestRepositoryContract},
		{"UpdateWritesHistoryAndOutbox", TestUpdateWritesHistoryAndOutbox},
		{"StoreOperations", TestStoreOperations},
		{"TakeRateTokenIsATokenBucket", TestTakeRateTokenIsATokenBucket},
		{"SettleAndClaimFirstWins", TestSettleAndClaimFirstWins},
		{"IndexAndClaim", TestIndexAndClaim},
		{"KeyStatusOfUnknownCustomerIsPending", TestKeyStatusOfUnknownCustomerIsPending},
		{"KeyStatusOnlyMovesForward", TestKeyStatusOnlyMovesForward},
		{"SetKeyStatusNeverMovesBack", TestSetKeyStatusNeverMovesBack},
		{"SameStateFillsOnlyEmptyFields", TestSameStateFillsOnlyEmptyFields},
		{"UnknownKeyStateIsRefused", TestUnknownKeyStateIsRefused},
		{"PublishedKeyEventsAreRemembered", TestPublishedKeyEventsAreRemembered},
		{"UnreadableKeyRecordIsReportedNotDefaulted", TestUnreadableKeyRecordIsReportedNotDefaulted},
		{"ReadableKeyRecordsStayReadable", TestReadableKeyRecordsStayReadable},
		{"ScheduleIsNeverDueEarly", TestScheduleIsNeverDueEarly},
		{"ClaimedEntryIsHiddenUntilItsLeaseRunsOut", TestClaimedEntryIsHiddenUntilItsLeaseRunsOut},
		{"ReleaseAndPostponeNeverMakeAnEntryDueEarlier", TestReleaseAndPostponeNeverMakeAnEntryDueEarlier},
		{"ConcurrentClaimsTakeEachEntryOnce", TestConcurrentClaimsTakeEachEntryOnce},
		{"OverdueCountsEveryDestructionNotDoneSinceItsDueDate", TestOverdueCountsEveryDestructionNotDoneSinceItsDueDate},
		{"OverdueCoversEntriesFromBeforeDueDates", TestOverdueCoversEntriesFromBeforeDueDates},
		{"ScheduledKeyDestructionsListsTheSchedule", TestScheduledKeyDestructionsListsTheSchedule},
	} {
		t.Run(tc.name, tc.test)
	}
	t.Run("SlotIsClusterKeyslot", func(t *testing.T) {
		for _, k := range []string{"cust:{" + uuid.NewString() + "}:history", "retention:schedule", "{retention:schedule}:due", "apikeys", "x{}y"} {
			if got, want := redistest.Slot(k), cl.Slot(t, k); got != want {
				t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
			}
		}
	})
	t.Run("FailoverKeepsAcknowledgedCommands", func(t *testing.T) { testFailover(t, cl) })
}

// Connect finds the cluster from one seed or several, and checks the
// persistence of every node, replicas included.
func testConnectToCluster(t *testing.T, cl *redistest.Cluster) {
	ctx := context.Background()
	for _, addr := range []string{cl.Seeds(), cl.Nodes[4].Addr, "127.0.0.1:1," + cl.Nodes[0].Addr} {
		c, err := redisstore.Connect(ctx, redisstore.Config{Addr: addr, Password: cl.Password})
		if err != nil {
			t.Fatalf("Connect(%s): %v", addr, err)
		}
		if _, ok := c.(*redis.ClusterClient); !ok {
			t.Errorf("Connect(%s) gave a %T, want a cluster client", addr, c)
		}
		k := "{" + uuid.NewString() + "}"
		if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Errorf("SET through Connect(%s): %v", addr, err)
		}
		_ = c.Close()
	}
	// One replica with a weaker fsync is enough to refuse the cluster.
	var mu sync.Mutex
	var replica *redis.Client
	c, err := redisstore.Connect(ctx, redisstore.Config{Addr: cl.Seeds(), Password: cl.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.(*redis.ClusterClient).ForEachSlave(ctx, func(_ context.Context, r *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		replica = r
		return nil
	})
	if replica == nil {
		t.Fatal("the cluster has no replica")
	}
	addr := replica.Options().Addr
	if _, err := cl.Do(addr, "CONFIG", "SET", "appendfsync", "everysec"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = cl.Do(addr, "CONFIG", "SET", "appendfsync", "always") }()
	err = redisstore.CheckPersistence(ctx, c)
	if !errors.Is(err, redisstore.ErrUnsafePersistence) || !strings.Contains(err.Error(), "node "+addr+": appendfsync is \"everysec\"") {
		t.Fatalf("CheckPersistence with replica %s on everysec: %v, want it named", addr, err)
	}
	if _, err := redisstore.Connect(ctx, redisstore.Config{Addr: cl.Seeds(), Password: cl.Password}); err == nil {
		t.Fatal("Connect accepted a cluster with an unsafe replica")
	}
}

// The operations the contract does not cover, each once: indexes, spaces,
// API keys, reference data, pending commands, idempotency keys.
func TestStoreOperations(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	partner, cust, cust2, cmd := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if owner, err := s.ClaimSpace(ctx, "space-"+cust[:8], cust); err != nil || owner != cust {
		t.Fatalf("ClaimSpace = %q, %v", owner, err)
	}
	if owner, err := s.ClaimSpace(ctx, "space-"+cust[:8], cust2); err != nil || owner != cust {
		t.Fatalf("ClaimSpace of a taken space = %q, %v; want %s", owner, err, cust)
	}
	must(s.ReleaseSpace(ctx, "space-"+cust[:8], cust))
	if owner, err := s.SpaceOwner(ctx, "space-"+cust[:8]); err != nil || owner != "" {
		t.Fatalf("SpaceOwner after release = %q, %v", owner, err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, id := range []string{cust, cust2} {
		c, err := customer.New(id, partner, uuid.NewString(), "ops-"+id[:8], "Ops", at)
		must(err)
		_, err = s.Create(ctx, c, appliedRecord(c, command.Register, at))
		must(err)
		must(s.IndexCustomer(ctx, partner, id))
	}
	page, err := s.List(ctx, redisstore.ListFilter{PartnerID: partner, First: 10})
	if err != nil || len(page.Customers) != 2 {
		t.Fatalf("List = %d customers, %v; want 2", len(page.Customers), err)
	}
	must(s.IndexCommand(ctx, partner, cmd, cust))
	must(s.RecordPending(ctx, redisstore.Pending{CommandID: cmd, CustomerID: cust, PartnerID: partner, At: at}))
	if p, err := s.PendingCommand(ctx, cmd); err != nil || p == nil || p.CustomerID != cust {
		t.Fatalf("PendingCommand = %+v, %v", p, err)
	}
	// Spread over the slots (and so over every master of a cluster).
	for range 9 {
		must(s.RecordPending(ctx, redisstore.Pending{CommandID: uuid.NewString(), CustomerID: cust, PartnerID: partner, At: at}))
	}
	if all, err := s.PendingCommands(ctx); err != nil || len(all) != 10 {
		t.Fatalf("PendingCommands = %d records, %v; want all 10", len(all), err)
	}
	rej := command.Outcome{Version: command.WireVersion, CommandID: cmd, CustomerID: cust, PartnerID: partner, Status: command.Rejected, ProcessedAt: at}
	_, err = s.Reject(ctx, rej)
	must(err)
	if o, err := s.CommandOutcome(ctx, partner, cmd); err != nil || o == nil || o.CustomerID != cust {
		t.Fatalf("CommandOutcome = %+v, %v", o, err)
	}
	for _, fp := range []string{"a", "b"} {
		if got, err := s.BindIdempotencyKey(ctx, partner, "k1", fp, time.Minute); err != nil || got != "a" {
			t.Fatalf("BindIdempotencyKey(%s) = %q, %v; want a", fp, got, err)
		}
	}
	key := access.APIKey{ID: "abc123", Name: "n", Role: access.RolePartner, PartnerID: partner, SecretHash: "h", CreatedAt: at}
	must(s.PutAPIKey(ctx, key))
	must(s.RevokeAPIKey(ctx, key.ID, at))
	if ks, err := s.APIKeys(ctx); err != nil || len(ks) != 1 || ks[0].RevokedAt.IsZero() {
		t.Fatalf("APIKeys = %+v, %v", ks, err)
	}
	must(s.PutPartner(ctx, redisstore.Partner{ID: partner, Name: "P"}))
	if ps, err := s.Partners(ctx); err != nil || len(ps) != 1 {
		t.Fatalf("Partners = %+v, %v", ps, err)
	}
	due, err := s.OutboxDue(ctx, time.Now().Add(time.Minute), 10)
	must(err)
	for _, e := range due {
		evs, err := s.OutboxEvents(ctx, e.CustomerID)
		must(err)
		for _, ev := range evs {
			must(s.DeliveredEvent(ctx, e.CustomerID, ev.ID))
		}
		must(s.ForgetOutbox(ctx, e))
	}
	if due, err := s.OutboxDue(ctx, time.Now().Add(time.Minute), 10); err != nil || len(due) != 0 {
		t.Fatalf("outbox index after delivering everything = %+v, %v", due, err)
	}
}

// A master killed with SIGKILL right after acknowledging a customer's
// commands, without waiting for its replica to catch up: its replica
// takes over with all of them (each was confirmed by it before the store
// returned). The promoted replica has no live replica of its own until
// the old master rejoins (the cluster has flagged the old one failed):
// meanwhile its writes are taken without a replica's confirmation, on its
// append-only file only, rather than refused. A redelivered command is not
// applied again, and the lifecycle goes on, before and after the old
// master's return.
func testFailover(t *testing.T, cl *redistest.Cluster) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	id := uuid.NewString()
	c, err := customer.New(id, uuid.NewString(), uuid.NewString(), "failover-"+id[:8], "Failover", at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, c, appliedRecord(c, command.Register, at)); err != nil {
		t.Fatal(err)
	}
	act := appliedRecord(c, command.Activate, at.Add(time.Second))
	activate := func(c *customer.Customer) (repository.Applied, error) { return act, c.Activate(at) }
	if _, err := s.Update(ctx, id, activate); err != nil {
		t.Fatal(err)
	}
	killed := cl.KillMaster(t, "cust:{"+id+"}")
	rejoined := false
	defer func() {
		if !rejoined {
			cl.Rejoin(t, killed)
		}
	}()

	// The activation's outcome survived: a redelivery is answered from it.
	o, err := s.Outcome(ctx, c.PartnerID(), id, act.Outcome.CommandID)
	if err != nil || o == nil || o.Status != command.Applied {
		t.Fatalf("activation's outcome after failover = %+v, %v", o, err)
	}
	if cu, err := s.Get(ctx, id); err != nil || cu.Version() != 2 {
		t.Fatalf("customer after failover = %+v, %v; want version 2", cu, err)
	}
	// A rejection of the same command (a redelivery that found the
	// customer ACTIVE) does not replace it, with no replica to confirm
	// it as with the old master back.
	rej := act.Outcome
	rej.Status, rej.Event = command.Rejected, ""
	if o, err := s.Reject(ctx, rej); err != nil || o.Status != command.Applied {
		t.Fatalf("recording the activation again with no replica = %+v, %v; want its stored outcome", o, err)
	}
	deact := appliedRecord(c, command.Deactivate, at.Add(2*time.Second))
	if _, err := s.Update(ctx, id, func(c *customer.Customer) (repository.Applied, error) { return deact, c.Deactivate(at) }); err != nil {
		t.Fatalf("deactivate after failover, no replica: %v", err)
	}
	cl.Rejoin(t, killed)
	rejoined = true
	if o, err := s.Reject(ctx, rej); err != nil || o.Status != command.Applied {
		t.Fatalf("recording the activation again = %+v, %v; want its stored outcome", o, err)
	}
	react := appliedRecord(c, command.Activate, at.Add(3*time.Second))
	if _, err := s.Update(ctx, id, func(c *customer.Customer) (repository.Applied, error) { return react, c.Activate(at) }); err != nil {
		t.Fatalf("activate with the old master back: %v", err)
	}
	hist, err := s.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[1].CommandID != act.Outcome.CommandID || hist[2].CommandID != deact.Outcome.CommandID || hist[3].CommandID != react.Outcome.CommandID {
		t.Fatalf("history after failover %+v, want register, activate, deactivate, activate once each", hist)
	}
	// The old master, now a replica, holds what the new one took alone.
	if v, err := replicaClient(t, killed, cl.Password).HGet(ctx, "cust:{"+id+"}", "version").Result(); err != nil || v != "4" {
		t.Fatalf("version on the old master back as a replica = %v, %v; want 4", v, err)
	}
}
