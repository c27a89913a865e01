package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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
