package natsbus_test

// The command path on a three-node JetStream cluster with R3 streams and
// consumers: nodes are killed (SIGKILL) and restarted while commands are
// published and consumed, and every acknowledged command must still be
// handled, once, in its customer's order, within a bound.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
)

// clusterAckWait is the consumers' AckWait in the cluster tests: what a
// dead replica held is redelivered after it.
const clusterAckWait = 2 * time.Second

// handleTime is how long the cluster tests' handler takes per command.
const handleTime = 20 * time.Millisecond

// clusterRig is a three-node cluster with the streams and the partition
// consumers at R3, and a provisioner-like consumer (natsbus.Run over every
// partition, lanes per customer, order checked against the stream).
type clusterRig struct {
	c   *natstest.Cluster
	js  jetstream.JetStream // the provisioner's
	pub jetstream.JetStream // the partner's

	consumerConn *nats.Conn

	mu       sync.Mutex
	applied  map[string][]int // customer -> command numbers, in the order applied
	again    int              // handlings of a command already applied (idempotency absorbs them)
	problems []string
	progress chan struct{}
}

func newClusterRig(t *testing.T) *clusterRig {
	t.Helper()
	c := natstest.StartCluster(t)
	js := provisionerJS(t, c)
	ensureOn(t, js, 3, clusterAckWait)
	pub, err := jetstream.New(c.Connect(t, natstest.SeedPartnerUser))
	if err != nil {
		t.Fatal(err)
	}
	r := &clusterRig{c: c, js: js, pub: pub, applied: map[string][]int{}, progress: make(chan struct{}, 1)}
	r.settle(t)
	return r
}

// settle waits until the command stream and every partition consumer have
// a leader and all their replicas on running nodes are current.
func (r *clusterRig) settle(t *testing.T) {
	t.Helper()
	var consumers []string
	for p := range natsbus.Partitions {
		consumers = append(consumers, natsbus.PartitionConsumerName(p))
	}
	natstest.WaitSettled(t, r.js, r.c, 60*time.Second, natsbus.CommandStream, consumers...)
}

// run starts the consumer: natsbus.Run over every partition, as the
// provisioner runs it, handling a command by recording it.
func (r *clusterRig) run(t *testing.T) {
	t.Helper()
	handlers := make([]natsbus.Handler, natsbus.Partitions)
	for p := range handlers {
		handlers[p] = natsbus.Handler{
			Stream: natsbus.CommandStream, Consumer: natsbus.PartitionConsumerName(p), Handle: r.handle,
			LaneKey: natsbus.CustomerLane, LaneSubjects: natsbus.CustomerSubjects,
		}
	}
	// Connected as the provisioner is: natsbus.Connect, to the seed list.
	nc, err := natsbus.Connect(context.Background(), natsbus.Config{URL: r.c.URL(), User: "provisioner", Password: natstest.Passwords["provisioner"], Name: "provisioner-consumer"})
	if err != nil {
		t.Fatal(err)
	}
	r.consumerConn = nc
	ctx, cancel := context.WithCancel(context.Background())
	running, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- natsbus.Run(ctx, natsbus.RouterConfig{
			Conn: nc, AckWait: clusterAckWait, CloseTimeout: 5 * time.Second,
			Redelivery: natsbus.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond},
			Retry:      natsbus.Retry{MaxRetries: 1, InitialInterval: 10 * time.Millisecond, MaxInterval: 10 * time.Millisecond},
			Running:    running,
		}, handlers)
	}()
	select {
	case <-running:
	case err := <-done:
		cancel()
		t.Fatalf("Run stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Run did not signal Running")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not stop")
		}
	})
}

// handle records a command (body "<customer>/<n>") as applied, once: a
// second handling of an applied command is what the provisioner's
// idempotency record absorbs; it must still not come after a later command
// of the customer.
func (r *clusterRig) handle(_ context.Context, m natsbus.Message) error {
	var customer string
	var n int
	if _, err := fmt.Sscanf(string(m.Data), "%36s/%d", &customer, &n); err != nil {
		return fmt.Errorf("bad test command %q: %w", m.Data, err)
	}
	// A handler takes a moment, as the provisioner's do (Redis, Twilio):
	// commands are in flight, and acknowledged, across a node's death.
	time.Sleep(handleTime)
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.applied[customer]
	switch {
	case n < len(got):
		r.again++
		if n != len(got)-1 {
			r.problems = append(r.problems, fmt.Sprintf("customer %s: command %d handled again after command %d", customer, n, len(got)-1))
		}
	case n == len(got):
		r.applied[customer] = append(got, n)
	default:
		r.problems = append(r.problems, fmt.Sprintf("customer %s: command %d handled before command %d", customer, n, len(got)))
	}
	select {
	case r.progress <- struct{}{}:
	default:
	}
	return nil
}

// publish publishes each customer's commands 0..perCustomer-1 in order, as
// a partner does: a publish not acknowledged (its stream leader died, no
// quorum yet) is sent again with the same Nats-Msg-Id until it is, so it
// is stored once. It returns the number of publishes that had to be
// repeated.
func (r *clusterRig) publish(ctx context.Context, customers []string, perCustomer int) (int, error) {
	repeated := 0
	for n := range perCustomer {
		for _, id := range customers {
			msgID := uuid.NewString()
			body := []byte(id + "/" + strconv.Itoa(n))
			for attempt := 1; ; attempt++ {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := r.pub.Publish(pctx, command.CommandSubject(partnerA, id), body, jetstream.WithMsgID(msgID))
				cancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return repeated, fmt.Errorf("publish %s: %w (last: %v)", body, ctx.Err(), err)
				}
				repeated++
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	return repeated, nil
}

// waitApplied waits until every customer's perCustomer commands are
// applied, failing if nothing is applied for stall.
func (r *clusterRig) waitApplied(t *testing.T, customers []string, perCustomer int, stall time.Duration) {
	t.Helper()
	count := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		total := 0
		for _, id := range customers {
			total += len(r.applied[id])
		}
		return total
	}
	want := len(customers) * perCustomer
	for {
		got := count()
		if got == want {
			return
		}
		select {
		case <-r.progress:
		case <-time.After(stall):
			t.Fatalf("stalled: %d of %d commands applied, none in the last %v", count(), want, stall)
		}
	}
}

// check fails on any order problem recorded.
func (r *clusterRig) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) > 0 {
		t.Fatalf("%d order problems, first: %s", len(r.problems), r.problems[0])
	}
}

// customersOn returns n fresh customers on the partitions allowed,
// spread over as many of them as there are customers.
func customersOn(n int, allowed []int) []string {
	ok := map[int]bool{}
	for _, p := range allowed {
		ok[p] = true
	}
	seen := map[int]bool{}
	var ids []string
	for len(ids) < n {
		id := uuid.NewString()
		if p := natsbus.PartitionOf(id); ok[p] && (!seen[p] || len(seen) == len(ok)) {
			seen[p] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// Which node a round kills.
type victimKind int

const (
	nonLeader      victimKind = iota // leads neither the command stream nor a consumer of the round's partitions
	consumerLeader                   // leads the consumer of the first customer's partition (not the stream)
	streamLeader                     // leads the command stream
)

func (k victimKind) String() string {
	return [...]string{"a non-leader", "a consumer leader", "the stream leader"}[k]
}

// plan picks the node a round kills (see victimKind) and the round's
// customers, on partitions chosen accordingly.
func (r *clusterRig) plan(t *testing.T, kind victimKind, customers int) (*natstest.Node, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := natstest.StreamLeader(ctx, r.js, r.c, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	leaders := make([]*natstest.Node, natsbus.Partitions)
	for p := range leaders {
		if leaders[p], err = natstest.ConsumerLeader(ctx, r.js, r.c, natsbus.CommandStream, natsbus.PartitionConsumerName(p)); err != nil {
			t.Fatal(err)
		}
	}
	all := make([]int, natsbus.Partitions)
	for p := range all {
		all[p] = p
	}
	switch kind {
	case streamLeader:
		return stream, customersOn(customers, all)
	case consumerLeader:
		for p, l := range leaders {
			if l != stream {
				return l, append(customersOn(1, []int{p}), customersOn(customers-1, all)...)
			}
		}
		return leaders[0], append(customersOn(1, []int{0}), customersOn(customers-1, all)...)
	}
	for _, n := range r.c.Nodes {
		var spared []int
		for p, l := range leaders {
			if l != n {
				spared = append(spared, p)
			}
		}
		if n != stream && len(spared) > 0 {
			return n, customersOn(customers, spared)
		}
	}
	t.Fatal("every node leads the stream or every consumer")
	return nil, nil
}

// nodeLoss publishes commands of customers on several partitions while
// killing a node (see victimKind and plan), checks that every one is applied once, in order, and
// restarts the node.
func (r *clusterRig) nodeLoss(t *testing.T, kind victimKind, customers, perCustomer int) {
	t.Helper()
	node, ids := r.plan(t, kind, customers)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	published := make(chan error, 1)
	go func() {
		_, err := r.publish(ctx, ids, perCustomer)
		published <- err
	}()
	// Kill mid-flight: once some commands are applied.
	select {
	case <-r.progress:
	case <-time.After(20 * time.Second):
		t.Fatal("no command applied before the kill")
	}
	start := time.Now()
	node.Kill(t)
	if err := <-published; err != nil {
		t.Fatalf("with %s killed: %v", node.Name, err)
	}
	pubDone := time.Since(start)
	r.waitApplied(t, ids, perCustomer, 20*time.Second)
	applied := time.Since(start)
	r.check(t)
	node.Restart(t)
	restarted := time.Since(start)
	r.settle(t)
	t.Logf("killed %s: published +%v, applied +%v, restarted +%v, settled +%v", node.Name, pubDone.Round(time.Millisecond), applied.Round(time.Millisecond), restarted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// Nodes die and come back, alternately a non-leader and the leader of a
// partition consumer, while commands flow: every command is applied once,
// in its customer's order, and nothing stalls.
func TestClusterNodeLossLosesNothingAndDoesNotStall(t *testing.T) {
	r := newClusterRig(t)
	r.run(t)
	rounds := 20
	if s := os.Getenv("TEXTKIT_CLUSTER_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TEXTKIT_CLUSTER_ROUNDS=%q: want a positive integer", s)
		}
		rounds = n
	}
	for i := range rounds {
		// Alternately a non-leader and a leader: of the consumer, then of
		// the stream.
		kind := nonLeader
		if i%2 == 1 {
			kind = consumerLeader + victimKind(i/2%2)
		}
		start := time.Now()
		r.nodeLoss(t, kind, 12, 5)
		t.Logf("round %d (killed %v; consumer on %s): %v, %d handled again", i+1, kind, r.consumerConn.ConnectedServerName(), time.Since(start).Round(time.Millisecond), r.again)
	}
}

// ensureOn creates (or updates) the streams at replicas and the partition
// consumers with ackWait through js, as the provisioner does at start.
func ensureOn(t *testing.T, js jetstream.JetStream, replicas int, ackWait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*natsbus.ClusterWait)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamLimits{Replicas: replicas}); err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsurePartitionConsumers(ctx, js, ackWait); err != nil {
		t.Fatal(err)
	}
}

// provisionerJS returns the provisioner's JetStream context on c.
func provisionerJS(t *testing.T, c *natstest.Cluster) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(c.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// The order check holds on the cluster too: three unpinned replicas share
// a partition, one dies, and the node leading the partition's consumer is
// killed mid-flight.
func TestClusterThreeUnpinnedReplicasKeepEachCustomersOrder(t *testing.T) {
	c := natstest.StartCluster(t)
	js := provisionerJS(t, c)
	ensureOn(t, js, 3, 30*time.Second)
	r := newConsumerRigOn(t, c, js)
	natstest.WaitSettled(t, js, c, 60*time.Second, natsbus.CommandStream, natsbus.PartitionConsumerName(r.part))
	threeUnpinnedReplicas(t, r, func() {
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		leader, err := natstest.ConsumerLeader(lctx, js, c, natsbus.CommandStream, natsbus.PartitionConsumerName(r.part))
		if err != nil {
			t.Fatal(err)
		}
		leader.Kill(t)
	})
}

// On a cluster just started, before its nodes have elected a JetStream
// meta leader, the streams and consumers are still created, at R3: the
// provisioner waits for the cluster instead of failing.
func TestClusterStreamsAreCreatedOnAFreshCluster(t *testing.T) {
	c := natstest.LaunchCluster(t)
	js := provisionerJS(t, c)
	ensureOn(t, js, 3, clusterAckWait)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{natsbus.CommandStream, natsbus.EventStream, natsbus.DeadLetterStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, got)
		}
	}
}

// Streams created with one replica are moved to three when the provisioner
// starts with TEXTKIT_NATS_REPLICAS=3, their partition consumers with them,
// and the commands waiting in them are kept.
func TestClusterStreamsScaleFromOneReplicaToThree(t *testing.T) {
	c := natstest.StartCluster(t)
	js := provisionerJS(t, c)
	ensureOn(t, js, 1, clusterAckWait)
	r := newConsumerRigOn(t, c, js) // a command waiting in its partition
	ensureOn(t, js, 3, clusterAckWait)
	consumer := natsbus.PartitionConsumerName(r.part)
	natstest.WaitSettled(t, js, c, 60*time.Second, natsbus.CommandStream, consumer)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 || info.State.Msgs != 1 {
		t.Fatalf("command stream after the update: %d replicas configured, %d followers, %d messages; want 3, 2, 1", info.Config.Replicas, len(info.Cluster.Replicas), info.State.Msgs)
	}
	cons, err := js.Consumer(ctx, natsbus.CommandStream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	if info := cons.CachedInfo(); info.Cluster == nil || len(info.Cluster.Replicas) != 2 || info.NumPending != 1 {
		t.Fatalf("consumer %s after the update: cluster %+v, %d pending; want 2 followers and the command pending", consumer, info.Cluster, info.NumPending)
	}
}
