package provisioner_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twilio/emulator"
)

// Three replicas share the partitions; commands for ~20 customers are
// published back to back, interleaved across customers, each carrying the
// exact version it expects, so any reordering would be rejected with
// VERSION_CONFLICT. One replica is stopped midway.
func TestPerCustomerOrderWithThreeReplicas(t *testing.T) {
	const (
		customers = 20
		steps     = 11 // a register, then activate, deactivate, activate, …
	)
	h := newHarness(t)
	ctx := context.Background()
	// Activation waits for retention's key; on a busy machine the key
	// keeper may lag behind twenty registrations.
	// The replicas log into one buffer of their own: stacktest's Logger
	// gives each logger its own lock over the shared buffer.
	logs := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replica logs (tail):\n%s", logs.Tail(8<<10))
		}
	})
	var applied [4]atomic.Int64 // by replica
	replica := func(n int) func(*provisioner.Config) {
		return func(cfg *provisioner.Config) {
			cfg.KeyWait = 30 * time.Second
			jh := slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
			cfg.Logger = slog.New(countApplied{next: jh, n: &applied[n]}).With("replica", n)
		}
	}
	h.start(t, replica(1))
	stopSecond := h.start(t, replica(2))
	h.start(t, replica(3))

	ids := make([]string, customers)
	cmds := make([][]*command.Command, customers)
	partitions := map[int]bool{}
	for i := range ids {
		id := uuid.NewString()
		ids[i] = id
		partitions[natsbus.PartitionOf(id)] = true
		cmds[i] = append(cmds[i], registerCmd(id, fmt.Sprintf("order-%02d", i)))
		for v := int64(1); v < steps; v++ {
			typ := command.Activate
			if v%2 == 0 {
				typ = command.Deactivate
			}
			c := newCmd(typ, id, nil)
			c.ExpectedVersion = at(v)
			cmds[i] = append(cmds[i], c)
		}
	}
	if len(partitions) < 3 {
		t.Fatalf("%d customers fall in only %d partitions", customers, len(partitions))
	}
	publishStep := func(step int) {
		for i := range ids {
			h.publish(cmds[i][step])
		}
	}
	seen := func() int {
		n := 0
		for i := range ids {
			for _, c := range cmds[i] {
				if h.published(c.ID) != nil {
					n++
				}
			}
		}
		return n
	}
	half := steps / 2
	for step := 0; step < half; step++ {
		publishStep(step)
	}
	// Stop a replica while commands are in flight, and keep publishing.
	h.waitFor("a third of the first half", func() bool { return seen() >= customers*half/3 })
	stopSecond()
	for step := half; step < steps; step++ {
		publishStep(step)
	}

	for i, id := range ids {
		for step, c := range cmds[i] {
			o := h.outcome(c.ID)
			mustApplied(t, o)
			if o.CustomerVersion != int64(step+1) {
				t.Fatalf("customer %d step %d (%s): version %d, want %d", i, step, c.Type, o.CustomerVersion, step+1)
			}
		}
		hist, err := h.store.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != steps {
			t.Fatalf("customer %d: %d history entries, want %d", i, len(hist), steps)
		}
		for step, e := range hist {
			if e.CommandID != cmds[i][step].ID || e.Version != int64(step+1) || e.Event != command.EventOf(cmds[i][step].Type) {
				t.Fatalf("customer %d history[%d] = %+v, want command %s (%s) at version %d", i, step, e, cmds[i][step].ID, cmds[i][step].Type, step+1)
			}
		}
		c, err := h.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status() != customer.StatusDeactivated || c.Version() != steps {
			t.Fatalf("customer %d: %s v%d, want DEACTIVATED v%d", i, c.Status(), c.Version(), steps)
		}
		subs := h.twilio.Subaccounts(twilio.SubaccountName(id))
		if len(subs) != 1 || subs[0].Status != emulator.StatusSuspended || subs[0].SID != c.TwilioSID() {
			t.Fatalf("customer %d: sub-accounts %+v, want one, suspended", i, subs)
		}
		// Events leave in version order too.
		h.waitFor("events of customer "+id, func() bool { return len(h.eventsOf(id)) >= steps })
		for step, e := range h.eventsOf(id) {
			if e.CustomerVersion != int64(step+1) || e.CommandID != cmds[i][step].ID {
				t.Fatalf("customer %d event %d: version %d command %s, want %d %s", i, step, e.CustomerVersion, e.CommandID, step+1, cmds[i][step].ID)
			}
		}
	}
	t.Logf("commands applied by replicas 1, 2 (stopped midway) and 3: %d, %d, %d", applied[1].Load(), applied[2].Load(), applied[3].Load())
}

// countApplied counts a replica's "command applied" log records.
type countApplied struct {
	next slog.Handler
	n    *atomic.Int64
}

func (c countApplied) Enabled(ctx context.Context, l slog.Level) bool { return c.next.Enabled(ctx, l) }

func (c countApplied) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "command applied" {
		c.n.Add(1)
	}
	return c.next.Handle(ctx, r)
}

func (c countApplied) WithAttrs(as []slog.Attr) slog.Handler {
	return countApplied{next: c.next.WithAttrs(as), n: c.n}
}

func (c countApplied) WithGroup(name string) slog.Handler {
	return countApplied{next: c.next.WithGroup(name), n: c.n}
}
