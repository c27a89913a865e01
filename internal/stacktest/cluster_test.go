package stacktest_test

// Issue 11, Redis part: the whole system on a Redis Cluster (three masters
// with a replica each). The services use the same code as on one server;
// a master killed with SIGKILL right after acknowledging is replaced by
// its replica, which has every acknowledged command (each write waited
// for it: TEXTKIT_REDIS_MIN_REPLICA_ACKS); once the killed master is back
// as the new master's replica (until then that master's writes stall),
// the lifecycle goes on with every command applied exactly once.

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/textkit/customers/internal/stacktest"
)

// mutate sends a mutation whose field answers true (or {response: true}).
func mutate(t *testing.T, s *stacktest.Stack, field, query string, vars map[string]any) {
	t.Helper()
	r := s.Do(s.PartnerKey, query, vars)
	raw := r.Data[field]
	var payload struct{ Response bool }
	if string(raw) != "true" && (json.Unmarshal(raw, &payload) != nil || !payload.Response) {
		t.Fatalf("%s: %s", field, r.Raw)
	}
}

func activate(t *testing.T, s *stacktest.Stack, id string) {
	t.Helper()
	mutate(t, s, "activateCustomer", `mutation($id: ID!) { activateCustomer(input: {id: $id}) }`, map[string]any{"id": id})
}

func updateContact(t *testing.T, s *stacktest.Stack, id string) {
	t.Helper()
	mutate(t, s, "updateCustomerContactInfo", `mutation($in: UpdateCustomerContactInfoInput!) { updateCustomerContactInfo(input: $in) }`,
		map[string]any{"in": map[string]any{"id": id, "businessName": "Cluster Co", "phoneNumber": "+14165551212",
			"addressLine1": "1 King St W", "postalCode": "M5H 1A1", "province": "ON", "country": "CA"}})
}

func deactivate(t *testing.T, s *stacktest.Stack, id string) {
	t.Helper()
	mutate(t, s, "deactivateCustomer", `mutation($id: ID!) { deactivateCustomer(input: {id: $id}) }`, map[string]any{"id": id})
}

func terminate(t *testing.T, s *stacktest.Stack, id string) {
	t.Helper()
	mutate(t, s, "terminateCustomer", `mutation($id: ID!) { terminateCustomer(input: {id: $id, retention: {strategy: INDEFINITE}}) { response } }`,
		map[string]any{"id": id})
}

// checkHistory checks that the customer went through want, one version per
// command, each command once.
func checkHistory(t *testing.T, s *stacktest.Stack, id string, want ...string) {
	t.Helper()
	hist, err := s.Store.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, h := range hist {
		if i >= len(want) || string(h.Event) != want[i] || h.Version != int64(i+1) || seen[h.CommandID] {
			t.Fatalf("history of %s: %+v, want the events %v once each at versions 1..%d", id, hist, want, len(want))
		}
		seen[h.CommandID] = true
	}
	if len(hist) != len(want) {
		t.Fatalf("history of %s: %+v, want the events %v", id, hist, want)
	}
}

func TestLifecycleOnRedisClusterSurvivesAMasterFailover(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{RedisCluster: true})
	full := []string{"customer.registered", "customer.activated", "customer.contactInfoUpdated", "customer.terminated"}

	// The whole lifecycle on the cluster.
	first := registerThroughGateway(t, s, "cluster-first")
	activate(t, s, first)
	updateContact(t, s, first)
	terminate(t, s, first)
	checkHistory(t, s, first, full...)

	// Halfway through another customer's lifecycle, its master dies.
	id := registerThroughGateway(t, s, "cluster-co")
	activate(t, s, id)
	updateContact(t, s, id)
	killed := s.RedisCluster.KillMaster(t, "cust:{"+id+"}")

	// The promoted replica has every acknowledged command.
	checkHistory(t, s, id, "customer.registered", "customer.activated", "customer.contactInfoUpdated")
	// The killed master rejoins as its replica: writes to its slots,
	// which wait for a replica, go on.
	s.RedisCluster.Rejoin(t, killed)

	// The same customer goes on, on the promoted replica.
	deactivate(t, s, id)
	terminate(t, s, id)
	checkHistory(t, s, id, "customer.registered", "customer.activated", "customer.contactInfoUpdated",
		"customer.deactivated", "customer.terminated")
	// And a new one, whichever master serves it.
	after := registerThroughGateway(t, s, "cluster-after")
	activate(t, s, after)
	updateContact(t, s, after)
	terminate(t, s, after)
	checkHistory(t, s, after, full...)

	// Nothing was lost meanwhile.
	checkHistory(t, s, first, full...)
	c, err := s.Store.Get(context.Background(), id)
	if err != nil || c.Status() != "TERMINATED" || c.Version() != 5 {
		t.Fatalf("customer after the failover: %+v, %v; want TERMINATED at version 5", c, err)
	}
}
