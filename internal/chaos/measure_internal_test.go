package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/invariant"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
)

// customerOf returns a fresh customer id of partition p.
func customerOf(p int) string {
	for {
		if id := uuid.NewString(); natsbus.PartitionOf(id) == p {
			return id
		}
	}
}

func TestPartitionRecoveryMeasuresFromWorkToFirstApplied(t *testing.T) {
	ready := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return ready.Add(d) }
	inFlight, later, stalled, idle, early := customerOf(1), customerOf(2), customerOf(3), customerOf(4), customerOf(6)
	recs := []ledger.Record{
		// Partition 1: a command in flight when the service became ready,
		// applied 800 ms after.
		{CustomerID: inFlight, SentAt: at(-time.Second), AnsweredAt: at(time.Second), Answer: ledger.Applied},
		// Partition 2: its first command 3 s after ready, applied 200 ms later.
		{CustomerID: later, SentAt: at(3 * time.Second), AnsweredAt: at(3300 * time.Millisecond), Answer: ledger.Applied},
		// Partition 3: a command 1 s after ready that timed out; the
		// partition applied it only 7 s after.
		{CustomerID: stalled, CommandID: "c3", SentAt: at(time.Second), AnsweredAt: at(4 * time.Second), Answer: ledger.Timeout},
		// Partition 7: a command that timed out and was never applied
		// (perhaps never published): no work.
		{CustomerID: customerOf(7), CommandID: "c7", SentAt: at(time.Second), AnsweredAt: at(4 * time.Second), Answer: ledger.Timeout},
		// Partition 4: answered before ready, nothing after: not measured.
		{CustomerID: idle, SentAt: at(-3 * time.Second), AnsweredAt: at(-2 * time.Second), Answer: ledger.Applied},
		// Partition 6: applied before ready, answered after: no work.
		{CustomerID: early, CommandID: "c6", SentAt: at(-time.Second), AnsweredAt: at(time.Second), Answer: ledger.Applied},
		// A command the gateway refused gives its partition no work.
		{CustomerID: customerOf(5), SentAt: at(time.Second), AnsweredAt: at(time.Second), Answer: ledger.Error},
	}
	hist := map[string][]redisstore.HistoryEntry{
		inFlight: {{At: at(-5 * time.Second)}, {At: at(800 * time.Millisecond)}},
		later:    {{At: at(time.Second)}, {At: at(3200 * time.Millisecond)}}, // the first was before its work
		stalled:  {{At: at(8 * time.Second), CommandID: "c3"}},
		idle:     {{At: at(-2 * time.Second)}},
		early:    {{At: at(-500 * time.Millisecond), CommandID: "c6"}},
	}
	got := partitionRecovery(ready, recs, hist)
	want := map[int]time.Duration{1: 800 * time.Millisecond, 2: 200 * time.Millisecond, 3: 7 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("measured %d partitions (%+v), want %d", len(got), got, len(want))
	}
	for _, p := range got {
		if p.Took != want[p.Partition] {
			t.Errorf("partition %d took %s, want %s", p.Partition, p.Took, want[p.Partition])
		}
		if stalledWant := p.Partition == 3; p.stalled() != stalledWant {
			t.Errorf("partition %d stalled %v, want %v", p.Partition, p.stalled(), stalledWant)
		}
	}
	if w := worstPartition(got); w != "p3:7s" {
		t.Errorf("worst partition %q, want p3:7s", w)
	}
	// A partition with work (a command answered APPLIED, whose entry is
	// missing) and nothing applied after ready is stalled too.
	lost := []ledger.Record{{CustomerID: stalled, CommandID: "c3", SentAt: at(time.Second), AnsweredAt: at(4 * time.Second), Answer: ledger.Applied}}
	never := partitionRecovery(ready, lost, nil)
	if len(never) != 1 || never[0].Took >= 0 || !never[0].stalled() || worstPartition(never) != "p3:never" {
		t.Errorf("a partition that never applied: %+v (%s)", never, worstPartition(never))
	}
	// A command published again after it was applied (duplicate-publish)
	// and answered APPLIED once more is the partition at work: no new
	// history entry, its answer is the progress.
	again := []ledger.Record{{CustomerID: stalled, CommandID: "c3", SentAt: at(time.Second), AnsweredAt: at(1500 * time.Millisecond), Answer: ledger.Applied}}
	got = partitionRecovery(ready, again, map[string][]redisstore.HistoryEntry{stalled: {{At: at(-time.Second), CommandID: "c3"}}})
	if len(got) != 1 || got[0].Took != 500*time.Millisecond {
		t.Errorf("a command answered again after the fault: %+v, want the partition measured at 500ms", got)
	}
}

func TestUnaffectedCommandsBeforeAndDuringTheFault(t *testing.T) {
	measured := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	faultStart, faultEnd := measured.Add(10*time.Second), measured.Add(20*time.Second)
	rec := func(worker int, typ ledger.Type, sent time.Time, took time.Duration) ledger.Record {
		return ledger.Record{Worker: worker, Type: typ, IntendedAt: sent, SentAt: sent, AnsweredAt: sent.Add(took), Answer: ledger.Applied}
	}
	var recs []ledger.Record
	for i := range 50 {
		// Deactivations need no Vault: 100 ms before the fault, 400 ms during.
		recs = append(recs, rec(0, ledger.Deactivate, measured.Add(time.Duration(i)*100*time.Millisecond), 100*time.Millisecond),
			rec(1, ledger.Deactivate, faultStart.Add(time.Duration(i)*100*time.Millisecond), 400*time.Millisecond))
	}
	// Contact info updates need Vault: their slowness does not count.
	recs = append(recs, rec(2, ledger.UpdateContactInfo, faultStart.Add(time.Second), 9*time.Second))
	// Nor does a deactivation joined with a command that needs Vault.
	joined := rec(3, ledger.Activate, faultStart.Add(2*time.Second), 8*time.Second)
	recs = append(recs, joined, rec(3, ledger.Deactivate, joined.SentAt, 8*time.Second))
	u := unaffected("vault", recs, measured, faultStart, faultEnd, 10*time.Second)
	if u.Before != (Percentile{N: 50, P99: 100 * time.Millisecond}) || u.During != (Percentile{N: 50, P99: 400 * time.Millisecond}) {
		t.Fatalf("before %+v, during %+v; want 50 at 100ms and 50 at 400ms", u.Before, u.During)
	}
	if u.Bound != time.Second {
		t.Errorf("bound %s, want 1s (twice 100ms is less)", u.Bound)
	}
	if _, bad := u.violation(); bad {
		t.Errorf("400ms within the bound reported as a violation")
	}
	recs = append(recs, rec(1, ledger.Deactivate, faultStart.Add(5*time.Second), 3*time.Second))
	u = unaffected("vault", recs, measured, faultStart, faultEnd, 10*time.Second)
	v, bad := u.violation()
	if !bad || v.Kind != invariant.UnaffectedSlow || u.During.P99 != 3*time.Second {
		t.Errorf("a 3 s unaffected answer at p99: violation %v %+v, during %+v", bad, v, u.During)
	}
	few := unaffected("vault", recs[:20], measured, faultStart, faultEnd, 10*time.Second)
	if _, bad := few.violation(); bad || few.judged() {
		t.Errorf("10 commands before and 10 during judged: %+v", few)
	}
	if UnaffectedBound(4*time.Second, 3*time.Second) != 3*time.Second {
		t.Errorf("the bound exceeds the mutation timeout")
	}
}

func TestSparedPartnerDuringAnotherPartnersFlood(t *testing.T) {
	measured := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	faultStart, faultEnd := measured.Add(10*time.Second), measured.Add(20*time.Second)
	// customerIn is a new customer id of partition p.
	customerIn := func(p int) string {
		for {
			if id := uuid.NewString(); natsbus.PartitionOf(id) == p {
				return id
			}
		}
	}
	hotCustomer, calm := customerIn(0), customerIn(5)
	rec := func(partner, customer string, worker int, sent time.Time, took time.Duration, answer ledger.Answer) ledger.Record {
		return ledger.Record{PartnerID: partner, CustomerID: customer, Worker: worker, Type: ledger.Activate, IntendedAt: sent, SentAt: sent,
			AnsweredAt: sent.Add(took), Answer: answer, Ordered: partner == mine}
	}
	var recs []ledger.Record
	for i := range 50 {
		recs = append(recs, rec(mine, calm, 0, measured.Add(time.Duration(i)*100*time.Millisecond), 200*time.Millisecond, ledger.Applied),
			rec(mine, calm, 1, faultStart.Add(time.Duration(i)*100*time.Millisecond), 300*time.Millisecond, ledger.Applied))
	}
	// The flooding partner's own commands, on its hot customer (sent
	// unordered), slow or timed out, do not count.
	for i := range 20 {
		recs = append(recs, rec(flooding, hotCustomer, 1000+i, faultStart.Add(time.Second), 3*time.Second, ledger.Timeout))
	}
	u := spared(mine, recs, measured, faultStart, faultEnd, 3*time.Second)
	if u.Before.N != 50 || u.During.N != 50 || u.During.P99 != 300*time.Millisecond || u.TimedOut != 0 || u.HotTimedOut != 0 {
		t.Fatalf("before %+v, during %+v, %d timed out; want 50 at 200ms, 50 at 300ms, none", u.Before, u.During, u.TimedOut)
	}
	if _, bad := u.violation(); bad {
		t.Errorf("300ms within the bound reported as a violation")
	}
	// One of the spared partner's commands timed out in the hot
	// customer's partition is a violation, however few were measured.
	few := append(append([]ledger.Record(nil), recs[:10]...), recs[100:]...)
	few = append(few, rec(mine, customerIn(0), 1, faultStart.Add(time.Second), 3*time.Second, ledger.Timeout))
	u = spared(mine, few, measured, faultStart, faultEnd, 3*time.Second)
	v, bad := u.violation()
	if u.judged() || !bad || v.Kind != invariant.UnaffectedSlow || u.HotTimedOut != 1 || !strings.Contains(v.Detail, "TIMEOUT") {
		t.Errorf("a spared command timed out behind a hot customer: violation %v %+v (%+v)", bad, v, u)
	}
	if col := u.column(); !strings.Contains(col, "1 TIMEOUT") {
		t.Errorf("column %q does not show the timeout", col)
	}
	// One timed out elsewhere (the machine's slowness) is shown, and
	// judged only by the p99 bound.
	few[len(few)-1] = rec(mine, customerIn(7), 1, faultStart.Add(time.Second), 3*time.Second, ledger.Timeout)
	u = spared(mine, few, measured, faultStart, faultEnd, 3*time.Second)
	if _, bad := u.violation(); bad || u.TimedOut != 1 || u.HotTimedOut != 0 {
		t.Errorf("a spared command timed out outside the hot partitions, few judged: violation %v (%+v)", bad, u)
	}
}

// The partners of TestSparedPartnerDuringAnotherPartnersFlood.
const mine, flooding = "spared", "flooding"
