package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
)

// customersOfOnePartition returns n fresh customer ids that share the rig's
// partition.
func (r *consumerRig) customersOfOnePartition(n int) []string {
	var ids []string
	for len(ids) < n {
		if id := uuid.NewString(); natsbus.PartitionOf(id) == r.part {
			ids = append(ids, id)
		}
	}
	return ids
}

// publisher returns a func that publishes body as a command of customer,
// as its partner does.
func (r *consumerRig) publisher(t *testing.T) func(customer, body string) {
	t.Helper()
	pjs, err := jetstream.New(r.srv.Connect(t, natstest.SeedPartnerUser))
	if err != nil {
		t.Fatal(err)
	}
	return func(customer, body string) {
		t.Helper()
		if _, err := pjs.Publish(context.Background(), command.CommandSubject(partnerA, customer), []byte(body), jetstream.WithMsgID(uuid.NewString())); err != nil {
			t.Fatal(err)
		}
	}
}

// A customer whose command waits (on its key, on Twilio) delays no other
// customer of its partition: their commands are handled meanwhile.
func TestASlowCustomerDoesNotDelayAnotherOfItsPartition(t *testing.T) {
	r := newConsumerRig(t)
	ids := r.customersOfOnePartition(2)
	slow, other := command.PartitionSubject(r.part, partnerA, ids[0]), command.PartitionSubject(r.part, partnerA, ids[1])
	release := make(chan struct{})
	handled := make(chan string, 8)
	r.run(t, r.config(t), func(_ context.Context, m natsbus.Message) error {
		if m.Subject == slow {
			<-release
		}
		handled <- string(m.Data)
		return nil
	})
	publish := r.publisher(t)
	publish(ids[0], "slow-1")
	publish(ids[0], "slow-2")
	publish(ids[1], "other-1")
	publish(ids[1], "other-2")
	var got []string
	for len(got) < 3 { // the rig's own command, then the other customer's two
		select {
		case d := <-handled:
			got = append(got, d)
		case <-time.After(20 * time.Second):
			close(release)
			t.Fatalf("handled only %q while the slow customer waits: %s's commands are held behind it", got, other)
		}
	}
	var others []string
	for _, d := range got {
		if d != string(r.body) {
			others = append(others, d)
		}
	}
	if fmt.Sprint(others) != "[other-1 other-2]" {
		t.Fatalf("handled %q while the slow customer waits; want the rig's command and other-1, other-2 in order", got)
	}
	close(release)
	for _, want := range []string{"slow-1", "slow-2"} {
		select {
		case d := <-handled:
			if d != want {
				t.Fatalf("the slow customer's commands ran as %q first; want %q", d, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s was not handled once released", want)
		}
	}
}

// Interleaved customers of one partition, with failures retried: each
// customer's commands are handled one at a time, in the order published,
// every one exactly once to success.
func TestEachCustomersCommandsRunOneAtATimeInOrder(t *testing.T) {
	r := newConsumerRig(t)
	o := newOrderRig(t, r, 4, 25)
	o.start(t, r.config(t), natsbus.Handler{})
	o.publishAll(t, false)
	o.check(t)
}

// One replica holding the partition's pin receives every delivery of its
// consumer, in stream order: its lanes know every earlier command of a
// customer, so they do not ask the stream (two reads per command) before
// handing one out. Failed commands retried in place do not change that.
func TestOneReplicaWithEveryDeliveryDoesNotAskTheStream(t *testing.T) {
	r := newConsumerRig(t)
	before := orderChecks(t)
	o := newOrderRig(t, r, 4, 25)
	o.start(t, r.config(t), natsbus.Handler{LaneKey: natsbus.CustomerLane, LaneSubjects: natsbus.CustomerSubjects})
	o.publishAll(t, true)
	o.check(t)
	after := orderChecks(t)
	if stream := after["stream"] - before["stream"]; stream != 0 {
		t.Errorf("%v order checks asked the stream, want none", stream)
	}
	if skipped := after["skipped"] - before["skipped"]; skipped != float64(o.total) {
		t.Errorf("%v order checks skipped, want one per command (%d)", skipped, o.total)
	}
}

// orderChecks reads textkit_lane_order_checks_total by its how label.
func orderChecks(t *testing.T) map[string]float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "textkit_lane_order_checks_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "how" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// The order check against the stream (LaneSubjects) holds on its own:
// three replicas read the partition consumer at once (no pinned client, a
// small MaxAckPending so that each gets some of every customer's
// commands), customers' commands come both directly and from the gateway,
// and a replica dies mid-flight; each customer's commands still apply in
// order.
func TestThreeUnpinnedReplicasKeepEachCustomersOrder(t *testing.T) {
	threeUnpinnedReplicas(t, newConsumerRig(t), nil)
}

// threeUnpinnedReplicas runs TestThreeUnpinnedReplicasKeepEachCustomersOrder
// on r; midFlight, if set, also runs once a third of the commands are handled.
func threeUnpinnedReplicas(t *testing.T, r *consumerRig, midFlight func()) {
	t.Helper()
	cfg := natsbus.PartitionConsumer(r.part, time.Second)
	cfg.PriorityPolicy, cfg.PriorityGroups, cfg.PinnedTTL = jetstream.PriorityPolicyNone, nil, 0
	cfg.MaxAckPending = 6
	if _, err := r.js.CreateOrUpdateConsumer(context.Background(), natsbus.CommandStream, cfg); err != nil {
		t.Fatal(err)
	}
	o := newOrderRig(t, r, 6, 20)
	o.publishAll(t, true) // a backlog: the replicas share every customer's commands
	h := natsbus.Handler{LaneKey: natsbus.CustomerLane, LaneSubjects: natsbus.CustomerSubjects}
	var victim natsbus.RouterConfig
	for i := range 3 {
		rc := r.config(t)
		rc.AckWait = time.Second
		if i == 0 {
			victim = rc
		}
		o.start(t, rc, h)
	}
	o.waitHandled(t, o.total/3)
	victim.Conn.Close() // no ack, no heartbeat: what it held is redelivered
	if midFlight != nil {
		midFlight()
	}
	o.check(t)
}

// orderRig publishes interleaved commands of customers of one partition
// and checks that the handlers saw each customer's in order.
type orderRig struct {
	r           *consumerRig
	ids         []string
	perCustomer int
	total       int

	mu       sync.Mutex
	running  map[string]bool
	seen     map[string][]string
	done     map[string]bool
	failed   map[string]int
	problems []string
	handled  chan struct{}
	waited   int // handlings waitHandled took from handled
}

func newOrderRig(t *testing.T, r *consumerRig, customers, perCustomer int) *orderRig {
	t.Helper()
	return &orderRig{
		r: r, ids: r.customersOfOnePartition(customers), perCustomer: perCustomer,
		total:   1 + customers*perCustomer, // and the rig's own command
		running: map[string]bool{}, seen: map[string][]string{}, done: map[string]bool{}, failed: map[string]int{},
		handled: make(chan struct{}, 1+customers*perCustomer),
	}
}

// start runs a replica with h's lanes and the rig's handler: every fifth
// command fails its first two handlings (retried in place, then after the
// backoff, while its customer waits).
func (o *orderRig) start(t *testing.T, rc natsbus.RouterConfig, h natsbus.Handler) {
	t.Helper()
	h.Handle = func(_ context.Context, m natsbus.Message) error {
		key, body := natsbus.CustomerLane(m.Subject), string(m.Data)
		o.mu.Lock()
		if o.running[key] {
			o.problems = append(o.problems, "two commands of "+key+" at once")
		}
		o.running[key] = true
		fail := strings.HasSuffix(body, "5") && o.failed[body] < 2
		if fail {
			o.failed[body]++
		}
		o.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		o.mu.Lock()
		defer o.mu.Unlock()
		o.running[key] = false
		if fail {
			return errors.New("a passing failure")
		}
		if !o.done[body] { // a command handled again after a replica died
			o.done[body] = true
			o.seen[key] = append(o.seen[key], body)
			o.handled <- struct{}{}
		}
		return nil
	}
	o.r.runHandler(t, rc, h)
}

// publishAll publishes the commands, customer after customer in turn; with
// viaGateway every other one goes through the gateway's subject.
func (o *orderRig) publishAll(t *testing.T, viaGateway bool) {
	t.Helper()
	direct := o.r.publisher(t)
	gw, err := jetstream.New(o.r.srv.Connect(t, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range o.perCustomer {
		for c, id := range o.ids {
			body := fmt.Sprintf("c%d-%d", c, i)
			if !viaGateway || i%2 == 0 {
				direct(id, body)
				continue
			}
			if _, err := gw.Publish(context.Background(), command.GatewaySubject(partnerA, id), []byte(body), jetstream.WithMsgID(uuid.NewString())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// waitHandled waits until n more commands were handled.
func (o *orderRig) waitHandled(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-o.handled:
			o.waited++
		case <-time.After(60 * time.Second):
			t.Fatalf("handled %d of %d commands", i, n)
		}
	}
}

// check waits for every command and checks each customer's order.
func (o *orderRig) check(t *testing.T) {
	t.Helper()
	o.waitHandled(t, o.total-o.waited)
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(o.problems), o.problems[0])
	}
	for c, id := range o.ids {
		got := o.seen[command.PartitionSubject(o.r.part, partnerA, id)]
		for i := range o.perCustomer {
			if want := fmt.Sprintf("c%d-%d", c, i); i >= len(got) || got[i] != want {
				t.Fatalf("customer %d's commands were handled as %q; want c%d-0 .. c%d-%d in order, once each", c, got, c, c, o.perCustomer-1)
			}
		}
	}
}

// A nats-server that dies while a handled command's acknowledgement is on
// its way: the customer's next command is handled within AckWait (and
// the first one at most once more, on its redelivery), never held behind
// the lost acknowledgement (issue 9: partitions apply again within 5 s of
// a restart). When the restarted server redelivers the command while the
// lane still waits for the acknowledgement's answer, the lane handles that
// redelivery at once (held.redo) instead of dropping it.
func TestANATSRestartDuringAnAcknowledgementHoldsNoLane(t *testing.T) {
	r := newConsumerRig(t)
	srv := r.srv.(*natstest.Server)
	const ackWait = 2 * time.Second
	if err := natsbus.EnsurePartitionConsumers(context.Background(), r.js, ackWait); err != nil {
		t.Fatal(err)
	}
	rc := r.config(t)
	rc.AckWait = ackWait
	crashed := make(chan struct{})
	var once sync.Once
	handled := make(chan string, 16)
	r.run(t, rc, func(_ context.Context, m natsbus.Message) error {
		once.Do(func() {
			srv.Shutdown() // before the handler returns: its acknowledgement goes nowhere
			close(crashed)
		})
		handled <- string(m.Data)
		return nil
	})
	<-crashed
	time.Sleep(200 * time.Millisecond)
	srv.Restart(t)
	customer := strings.Split(r.subject, ".")[4]
	r.publisher(t)(customer, "next")
	deadline := time.After(ackWait + 2*time.Second)
	var got []string
	for len(got) == 0 || got[len(got)-1] != "next" {
		select {
		case d := <-handled:
			got = append(got, d)
		case <-deadline:
			t.Fatalf("handled %q, not yet the customer's next command: the lane waits on the lost acknowledgement", got)
		}
	}
	if n := len(got) - 1; n < 1 || n > 2 || got[0] != string(r.body) || got[n-1] != string(r.body) {
		t.Fatalf("handled %q, want the command (once, or twice on its redelivery), then the next", got)
	}
}
