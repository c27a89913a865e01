package natsbus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textkit/customers/internal/natsbus"
)

// withAckWait gives the rig's partition consumer ackWait, as a service
// does at start (CreateOrUpdateConsumer updates an existing consumer).
func (r *consumerRig) withAckWait(t *testing.T, ackWait time.Duration) natsbus.RouterConfig {
	t.Helper()
	if _, err := r.js.CreateOrUpdateConsumer(context.Background(), natsbus.CommandStream, natsbus.PartitionConsumer(r.part, ackWait)); err != nil {
		t.Fatal(err)
	}
	rc := r.config(t)
	rc.AckWait = ackWait
	rc.CloseTimeout = time.Second
	return rc
}

// A consumer that dies with a message in flight (its connection gone, its
// handler never finishing) holds the partition only for the services'
// AckWait: a consumer started afterwards gets the message within seconds.
// The bound asserted, 20s, is a correctness bound: the old AckWait was 90s,
// the new one natsbus.DefaultAckWait (4s).
func TestAMessageOfADeadConsumerIsRedeliveredWithinSeconds(t *testing.T) {
	r := newConsumerRig(t)
	rc := r.withAckWait(t, natsbus.DefaultAckWait)
	started := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var once atomic.Bool
	r.run(t, rc, func(context.Context, natsbus.Message) error {
		if once.CompareAndSwap(false, true) {
			close(started)
		}
		<-release
		return nil
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first consumer got nothing")
	}
	rc.Conn.Close() // the first consumer is gone: no ack, no heartbeat
	died := time.Now()
	rc2 := r.config(t)
	rc2.AckWait = natsbus.DefaultAckWait
	got := make(chan natsbus.Message, 1)
	r.run(t, rc2, func(_ context.Context, m natsbus.Message) error {
		got <- m
		return nil
	})
	select {
	case m := <-got:
		r.check(t, m)
		t.Logf("redelivered %s after the first consumer died", time.Since(died).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatalf("the partition is still blocked %s after its consumer died", time.Since(died).Round(time.Second))
	}
	r.waitAcked(t)
}

// A handler that runs longer than AckWait keeps its message (heartbeats):
// another consumer of the same partition does not get it meanwhile, and it
// is handled once.
func TestALongHandlerKeepsItsMessage(t *testing.T) {
	r := newConsumerRig(t)
	rc := r.withAckWait(t, time.Second)
	var calls atomic.Int32
	handle := func(context.Context, natsbus.Message) error {
		calls.Add(1)
		time.Sleep(3500 * time.Millisecond) // three and a half AckWaits
		return nil
	}
	r.run(t, rc, handle)
	rc2 := r.config(t)
	rc2.AckWait = time.Second
	r.run(t, rc2, handle)
	r.waitAcked(t)
	if n := calls.Load(); n != 1 {
		t.Fatalf("the message was handled %d times; want once (kept in progress while handled)", n)
	}
}

// A handler stuck past MaxHandle no longer keeps its message: it is
// redelivered, so a stuck handler cannot hold its partition for ever.
func TestAStuckHandlerLetsItsMessageGoAfterMaxHandle(t *testing.T) {
	r := newConsumerRig(t)
	rc := r.withAckWait(t, time.Second)
	rc.MaxHandle = 1500 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	deliveries := make(chan struct{}, 4)
	r.run(t, rc, func(context.Context, natsbus.Message) error {
		deliveries <- struct{}{}
		<-release
		return nil
	})
	rc2 := r.config(t)
	rc2.AckWait = time.Second
	r.run(t, rc2, func(context.Context, natsbus.Message) error {
		deliveries <- struct{}{}
		<-release
		return nil
	})
	for i := range 2 {
		select {
		case <-deliveries:
		case <-time.After(20 * time.Second):
			t.Fatalf("delivery %d did not come: the stuck handler still holds the message", i+1)
		}
	}
}
