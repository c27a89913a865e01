package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
)

func TestScheduleIsNeverDueEarly(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// Not on a millisecond boundary: rounding must not make it due early.
	due := time.Date(2025, 2, 28, 10, 20, 30, 500_400, time.UTC)
	if err := s.ScheduleKeyDestruction(ctx, custA, due); err != nil {
		t.Fatal(err)
	}
	for _, early := range []time.Duration{time.Second, time.Millisecond, time.Microsecond, time.Nanosecond} {
		claims, err := s.ClaimDueKeyDestructions(ctx, due.Add(-early), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(claims) != 0 {
			t.Fatalf("claimed %v early", early)
		}
		if _, ok, err := s.ClaimKeyDestruction(ctx, custA, due.Add(-early), time.Minute); err != nil || ok {
			t.Fatalf("claimed one %v early (err %v)", early, err)
		}
	}
	// Due at the next whole millisecond, the first the score can express.
	at := due.Truncate(time.Millisecond).Add(time.Millisecond)
	claims, err := s.ClaimDueKeyDestructions(ctx, at, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 1 || claims[0].CustomerID != custA {
		t.Fatalf("claims at the due time: %+v, want %s", claims, custA)
	}
}

func TestScheduleKeepsTheFirstDateAndSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	rdb, srv := redistest.Start(t)
	s := redisstore.New(rdb)
	due := time.Date(2025, 2, 28, 10, 20, 30, 0, time.UTC)
	if err := s.ScheduleKeyDestruction(ctx, custA, due); err != nil {
		t.Fatal(err)
	}
	if err := s.ScheduleKeyDestruction(ctx, custA, due.AddDate(1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	got, ok, err := s.KeyDestructionEntry(ctx, custA)
	if err != nil || !ok || !got.Equal(due) {
		t.Fatalf("entry after restart: %v %v %v, want %v", got, ok, err, due)
	}
}

func TestClaimedEntryIsHiddenUntilItsLeaseRunsOut(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	due := time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC)
	if err := s.ScheduleKeyDestruction(ctx, custA, due); err != nil {
		t.Fatal(err)
	}
	now := due.Add(time.Hour)
	c, ok, err := s.ClaimKeyDestruction(ctx, custA, now, time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if !c.Due.Equal(due) {
		t.Fatalf("claim due %v, want %v", c.Due, due)
	}
	if claims, _ := s.ClaimDueKeyDestructions(ctx, now.Add(59*time.Second), time.Minute, 10); len(claims) != 0 {
		t.Fatalf("a claimed entry was claimed again within its lease: %+v", claims)
	}
	// The replica died: after the lease another takes it over, and the
	// first one's settling no longer touches the entry.
	later := now.Add(2 * time.Minute)
	claims, err := s.ClaimDueKeyDestructions(ctx, later, time.Minute, 10)
	if err != nil || len(claims) != 1 {
		t.Fatalf("claim after the lease: %+v %v", claims, err)
	}
	if ok, err := s.CompleteKeyDestruction(ctx, c); err != nil || ok {
		t.Fatalf("stale claim completed: %v %v", ok, err)
	}
	if ok, err := s.CompleteKeyDestruction(ctx, claims[0]); err != nil || !ok {
		t.Fatalf("complete: %v %v", ok, err)
	}
	if _, ok, _ := s.KeyDestructionEntry(ctx, custA); ok {
		t.Fatal("entry still there after completion")
	}
}

func TestReleaseAndPostponeNeverMakeAnEntryDueEarlier(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	due := time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC)
	if err := s.ScheduleKeyDestruction(ctx, custA, due); err != nil {
		t.Fatal(err)
	}
	now := due.Add(time.Hour)
	c, _, _ := s.ClaimKeyDestruction(ctx, custA, now, time.Minute)
	if ok, err := s.ReleaseKeyDestruction(ctx, c); err != nil || !ok {
		t.Fatalf("release: %v %v", ok, err)
	}
	if got, _, _ := s.KeyDestructionEntry(ctx, custA); !got.Equal(due) {
		t.Fatalf("released entry due %v, want %v", got, due)
	}
	c, _, _ = s.ClaimKeyDestruction(ctx, custA, now, time.Minute)
	if ok, err := s.PostponeKeyDestruction(ctx, c, due.Add(-time.Hour)); err != nil || !ok {
		t.Fatalf("postpone: %v %v", ok, err)
	}
	if got, _, _ := s.KeyDestructionEntry(ctx, custA); !got.Equal(due) {
		t.Fatalf("entry postponed to an earlier time is due %v, want %v", got, due)
	}
	c, _, _ = s.ClaimKeyDestruction(ctx, custA, now, time.Minute)
	if ok, err := s.PostponeKeyDestruction(ctx, c, now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("postpone: %v %v", ok, err)
	}
	if got, _, _ := s.KeyDestructionEntry(ctx, custA); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("postponed entry due %v, want %v", got, now.Add(time.Hour))
	}
}

func TestConcurrentClaimsTakeEachEntryOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	due := time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC)
	const n = 200
	for i := 0; i < n; i++ {
		if err := s.ScheduleKeyDestruction(ctx, fmt.Sprintf("cust-%03d", i), due.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	now := due.Add(150 * time.Second) // entries 0..150 are due
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				claims, err := s.ClaimDueKeyDestructions(ctx, now, time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claims) == 0 {
					return
				}
				mu.Lock()
				for _, c := range claims {
					seen[c.CustomerID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 151 {
		t.Fatalf("claimed %d distinct entries, want 151", len(seen))
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s claimed %d times", id, k)
		}
	}
	if n, _ := s.KeyDestructionsScheduled(ctx); n != 200 {
		t.Fatalf("%d entries left, want 200 (claims keep their entries)", n)
	}
}

func TestOverdueCountsEveryDestructionNotDoneSinceItsDueDate(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Date(2025, 2, 28, 10, 0, 0, 0, time.UTC)
	const a, b, c = "cust-a", "cust-b", "cust-c"
	for id, at := range map[string]time.Time{a: t0, b: t0.Add(time.Hour), c: t0.Add(10 * 24 * time.Hour)} {
		if err := s.ScheduleKeyDestruction(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	want := func(now time.Time, n int64, oldest time.Time) {
		t.Helper()
		got, err := s.KeyDestructionsOverdue(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.Count != n || !got.Oldest.Equal(oldest) {
			t.Fatalf("overdue at %v: %+v, want %d since %v", now, got, n, oldest)
		}
	}
	want(t0.Add(-time.Millisecond), 0, time.Time{})
	want(t0, 1, t0) // due is overdue until done
	now := t0.Add(2 * time.Hour)
	want(now, 2, t0)

	// Claimed, then postponed after a failure: its score moves into the
	// future, and it is overdue all the same, since t0.
	claim, ok, err := s.ClaimKeyDestruction(ctx, a, now, time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	want(now, 2, t0)
	if ok, err := s.PostponeKeyDestruction(ctx, claim, now.Add(10*time.Minute)); err != nil || !ok {
		t.Fatalf("postpone: %v %v", ok, err)
	}
	want(now, 2, t0)

	// Done: no longer overdue.
	claim, _, _ = s.ClaimKeyDestruction(ctx, b, now, time.Minute)
	if ok, err := s.CompleteKeyDestruction(ctx, claim); err != nil || !ok {
		t.Fatalf("complete: %v %v", ok, err)
	}
	want(now, 1, t0)

	// Rescheduled to the key record's later date: due then, not before.
	claim, _, _ = s.ClaimKeyDestruction(ctx, a, now.Add(20*time.Minute), time.Minute)
	later := t0.Add(5 * time.Hour)
	if ok, err := s.RescheduleKeyDestruction(ctx, claim, later); err != nil || !ok {
		t.Fatalf("reschedule: %v %v", ok, err)
	}
	want(now, 0, time.Time{})
	want(later, 1, later)
	if at, _, _ := s.KeyDestructionEntry(ctx, a); !at.Equal(later) {
		t.Fatalf("rescheduled entry due %v, want %v", at, later)
	}
}

// TestOverdueCoversEntriesFromBeforeDueDates: a schedule written before
// due dates were kept (entries only in the schedule) is counted, and due
// dates whose entry left the schedule are dropped.
func TestOverdueCoversEntriesFromBeforeDueDates(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	s := redisstore.New(rdb)
	t0 := time.Date(2025, 2, 28, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 1500; i++ { // more than one backfill batch
		if err := rdb.ZAdd(ctx, "retention:schedule", redis.Z{Score: float64(t0.Add(time.Duration(i) * time.Second).UnixMilli()), Member: fmt.Sprintf("old-%04d", i)}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ScheduleKeyDestruction(ctx, "new", t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	got, err := s.KeyDestructionsOverdue(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 1501 || !got.Oldest.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("overdue %+v, want 1501 since %v", got, t0.Add(-time.Hour))
	}
	// Removed from the schedule behind the store's back: not overdue.
	if err := rdb.ZRem(ctx, "retention:schedule", "new").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err = s.KeyDestructionsOverdue(ctx, now); err != nil || got.Count != 1500 || !got.Oldest.Equal(t0) {
		t.Fatalf("overdue after removal %+v %v, want 1500 since %v", got, err, t0)
	}
}

// The schedule as textkit keys due lists it: soonest first, up to a time
// and a count, a claimed entry marked and keeping its due date.
func TestScheduledKeyDestructionsListsTheSchedule(t *testing.T) {
	const custB = "9b2d6f1e-3c4a-4e5b-8f7a-1d2c3b4a5e6f"
	ctx := context.Background()
	s := newStore(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.ScheduleKeyDestruction(ctx, custA, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ScheduleKeyDestruction(ctx, custB, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	claims, err := s.ClaimDueKeyDestructions(ctx, now, time.Minute, 10)
	if err != nil || len(claims) != 1 || claims[0].CustomerID != custA {
		t.Fatalf("claim: %v %v", claims, err)
	}
	got, err := s.ScheduledKeyDestructions(ctx, now.Add(2*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].CustomerID != custA || !got[0].Claimed || !got[0].Due.Equal(now.Add(-time.Hour)) || !got[0].Next.After(now) ||
		got[1].CustomerID != custB || got[1].Claimed || !got[1].Due.Equal(now.Add(time.Hour)) {
		t.Fatalf("schedule: %+v", got)
	}
	if got, err := s.ScheduledKeyDestructions(ctx, now.Add(2*time.Hour), 1); err != nil || len(got) != 1 {
		t.Fatalf("limit 1: %+v %v", got, err)
	}
	if got, err := s.ScheduledKeyDestructions(ctx, now.Add(30*time.Minute), 10); err != nil || len(got) != 1 || got[0].CustomerID != custA {
		t.Fatalf("until now+30m: %+v %v", got, err)
	}
}
