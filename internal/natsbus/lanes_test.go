package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

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
	ids := r.customersOfOnePartition(4)
	const perCustomer = 25
	var mu sync.Mutex
	running := map[string]bool{}
	seen := map[string][]string{}
	failed := map[string]bool{}
	var problems []string
	done := make(chan struct{})
	total := 0
	r.run(t, r.config(t), func(_ context.Context, m natsbus.Message) error {
		mu.Lock()
		if running[m.Subject] {
			problems = append(problems, "two commands of "+m.Subject+" at once")
		}
		running[m.Subject] = true
		// Every fifth command fails its first two handlings: it is retried
		// in place, then after the backoff, while its customer waits.
		body := string(m.Data)
		fail := len(body) > 0 && body[len(body)-1] == '5' && !failed[body+"#2"]
		if fail {
			if failed[body] {
				failed[body+"#2"] = true
			}
			failed[body] = true
		}
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		running[m.Subject] = false
		if fail {
			return errors.New("a passing failure")
		}
		seen[m.Subject] = append(seen[m.Subject], body)
		if total++; total == 1+len(ids)*perCustomer {
			close(done)
		}
		return nil
	})
	publish := r.publisher(t)
	for i := range perCustomer {
		for c, id := range ids {
			publish(id, fmt.Sprintf("c%d-%d", c, i))
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("handled %d of %d commands", total, 1+len(ids)*perCustomer)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(problems), problems[0])
	}
	for c, id := range ids {
		got := seen[command.PartitionSubject(r.part, partnerA, id)]
		for i := range perCustomer {
			if want := fmt.Sprintf("c%d-%d", c, i); i >= len(got) || got[i] != want {
				t.Fatalf("customer %d's commands were handled as %q; want c%d-0 .. c%d-%d in order, once each", c, got, c, c, perCustomer-1)
			}
		}
		if len(got) != perCustomer {
			t.Fatalf("customer %d's commands were handled %d times; want %d", c, len(got), perCustomer)
		}
	}
}
