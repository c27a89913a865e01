package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/redisstore"
)

const custA = "0b8f6c0e-1111-4a1a-9a1a-000000000001"

func newStore(t *testing.T) *redisstore.Store {
	t.Helper()
	return redisstore.New(newClient(t))
}

func TestKeyStatusOfUnknownCustomerIsPending(t *testing.T) {
	s := newStore(t)
	got, err := s.KeyStatus(context.Background(), custA)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != keys.Pending || !got.DestroyAt.IsZero() || got.Reason != "" {
		t.Fatalf("got %+v, want an empty PENDING record", got)
	}
}

func TestKeyStatusOnlyMovesForward(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2025, 2, 28, 10, 20, 30, 123456789, time.UTC)
	gone := at.Add(time.Minute)

	steps := []struct {
		name        string
		set         keys.Record
		wantState   keys.State
		wantChanged bool
	}{
		{"created", keys.Record{State: keys.Active, PartnerID: "p1"}, keys.Active, true},
		{"scheduled", keys.Record{State: keys.Scheduled, DestroyAt: at, Reason: "temporary", CommandID: "cmd-1"}, keys.Scheduled, true},
		{"late registration", keys.Record{State: keys.Active, Reason: "late"}, keys.Scheduled, false},
		{"rescheduled by a redelivery", keys.Record{State: keys.Scheduled, DestroyAt: at.Add(time.Hour), Reason: "other"}, keys.Scheduled, false},
		{"destroyed", keys.Record{State: keys.Destroyed, DestroyAt: at, DestroyedAt: gone, Reason: "temporary"}, keys.Destroyed, true},
		{"activated after destruction", keys.Record{State: keys.Active}, keys.Destroyed, false},
		{"scheduled after destruction", keys.Record{State: keys.Scheduled, DestroyAt: at.Add(time.Hour)}, keys.Destroyed, false},
		{"destroyed again", keys.Record{State: keys.Destroyed, DestroyedAt: gone.Add(time.Hour)}, keys.Destroyed, false},
	}
	for _, st := range steps {
		got, changed, err := s.AdvanceKeyStatus(ctx, custA, st.set)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got.State != st.wantState || changed != st.wantChanged {
			t.Fatalf("%s: state %s changed %v, want %s changed %v", st.name, got.State, changed, st.wantState, st.wantChanged)
		}
	}
	got, err := s.KeyStatus(ctx, custA)
	if err != nil {
		t.Fatal(err)
	}
	want := keys.Record{State: keys.Destroyed, DestroyAt: at, DestroyedAt: gone, Reason: "temporary", PartnerID: "p1", CommandID: "cmd-1"}
	if got.State != want.State || !got.DestroyAt.Equal(want.DestroyAt) || !got.DestroyedAt.Equal(want.DestroyedAt) ||
		got.Reason != want.Reason || got.PartnerID != want.PartnerID || got.CommandID != want.CommandID {
		t.Fatalf("final record %+v, want %+v", got, want)
	}
}

func TestSetKeyStatusNeverMovesBack(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.SetKeyStatus(ctx, custA, keys.Record{State: keys.Destroyed, DestroyedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyStatus(ctx, custA, keys.Record{State: keys.Active}); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyStatus(ctx, custA)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != keys.Destroyed {
		t.Fatalf("state %s after ACTIVE was set on a destroyed key, want DESTROYED", got.State)
	}
}

func TestSameStateFillsOnlyEmptyFields(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, _, err := s.AdvanceKeyStatus(ctx, custA, keys.Record{State: keys.Active}); err != nil {
		t.Fatal(err)
	}
	got, changed, err := s.AdvanceKeyStatus(ctx, custA, keys.Record{State: keys.Active, Reason: "kept", CommandID: "cmd-9"})
	if err != nil {
		t.Fatal(err)
	}
	if changed || got.Reason != "kept" || got.CommandID != "cmd-9" {
		t.Fatalf("got %+v changed %v, want reason and command filled in, unchanged state", got, changed)
	}
	got, _, err = s.AdvanceKeyStatus(ctx, custA, keys.Record{State: keys.Active, Reason: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != "kept" {
		t.Fatalf("reason %q, want the first one kept", got.Reason)
	}
}

func TestUnknownKeyStateIsRefused(t *testing.T) {
	s := newStore(t)
	if _, _, err := s.AdvanceKeyStatus(context.Background(), custA, keys.Record{State: "GONE"}); err == nil {
		t.Fatal("an unknown state was accepted")
	}
}

func TestPublishedKeyEventsAreRemembered(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.MarkKeyEventPublished(ctx, custA, command.KeyCreated); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyStatus(ctx, custA)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Published[command.KeyCreated] || got.Published[command.KeyDestroyed] {
		t.Fatalf("published %v, want only %s", got.Published, command.KeyCreated)
	}
}

// TestUnreadableKeyRecordIsReportedNotDefaulted writes records that
// cannot be read (as a bug, a manual edit or a half-done migration might
// leave them) and checks that nothing is defaulted in their place: a date
// that does not parse must not come back as the zero time, which reads as
// "due long ago".
func TestUnreadableKeyRecordIsReportedNotDefaulted(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	s := redisstore.New(rdb)
	const garbage = "next-tuesday-ish"
	for _, c := range []struct {
		name   string
		fields map[string]any
	}{
		{"scheduled, date garbled", map[string]any{"state": "SCHEDULED", "destroyAt": garbage}},
		{"scheduled, no date", map[string]any{"state": "SCHEDULED", "reason": "r"}},
		{"scheduled, empty date", map[string]any{"state": "SCHEDULED", "destroyAt": ""}},
		{"destroyed, destroyedAt garbled", map[string]any{"state": "DESTROYED", "destroyAt": "2025-02-28T10:20:30Z", "destroyedAt": garbage}},
		{"unknown state", map[string]any{"state": garbage, "destroyAt": "2025-02-28T10:20:30Z"}},
		{"empty state", map[string]any{"state": "", "destroyAt": "2025-02-28T10:20:30Z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "0b8f6c0e-2222-4a1a-9a1a-" + fmt.Sprintf("%012d", len(c.name)*1000+len(c.fields))
			key := "cust:{" + id + "}:key"
			if err := rdb.HSet(ctx, key, c.fields).Err(); err != nil {
				t.Fatal(err)
			}
			got, err := s.KeyStatus(ctx, id)
			if !errors.Is(err, keys.ErrUnreadable) {
				t.Fatalf("KeyStatus = %+v, %v; want ErrUnreadableKeyRecord", got, err)
			}
			if strings.Contains(err.Error(), garbage) {
				t.Errorf("error %q repeats the stored content", err)
			}
			if !got.DestroyAt.IsZero() && c.fields["destroyAt"] == garbage {
				t.Errorf("a garbled date came back as %v", got.DestroyAt)
			}
			// Advancing it is refused or reported, never silently fixed.
			before, _ := rdb.HGetAll(ctx, key).Result()
			_, _, err = s.AdvanceKeyStatus(ctx, id, keys.Record{State: keys.Active, PartnerID: "p"})
			if !errors.Is(err, keys.ErrUnreadable) {
				t.Fatalf("AdvanceKeyStatus over it = %v, want ErrUnreadableKeyRecord", err)
			}
			after, _ := rdb.HGetAll(ctx, key).Result()
			if after["state"] != before["state"] || after["destroyAt"] != before["destroyAt"] {
				t.Fatalf("record changed from %v to %v", before, after)
			}
		})
	}
}

func TestReadableKeyRecordsStayReadable(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2025, 2, 28, 10, 20, 30, 123456789, time.UTC)
	for _, r := range []keys.Record{
		{State: keys.Active, PartnerID: "p"},
		{State: keys.Scheduled, DestroyAt: at},
		{State: keys.Destroyed, DestroyAt: at, DestroyedAt: at.Add(time.Second)},
	} {
		got, _, err := s.AdvanceKeyStatus(ctx, custA, r)
		if err != nil {
			t.Fatalf("advance to %s: %v", r.State, err)
		}
		if got.State != r.State {
			t.Fatalf("state %s, want %s", got.State, r.State)
		}
		if _, err := s.KeyStatus(ctx, custA); err != nil {
			t.Fatalf("KeyStatus after %s: %v", r.State, err)
		}
	}
}

// TestAdvanceScriptIsTheLifecycleRule checks that the Lua script, with its
// own rank table, records exactly what keys.Advance says for every pair
// of states: the two tables agree.
func TestAdvanceScriptIsTheLifecycleRule(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, cur := range keys.States() {
		for j, next := range keys.States() {
			id := fmt.Sprintf("0b8f6c0e-3333-4a1a-9a1a-%012d", i*10+j)
			stored := keys.Record{State: cur, Reason: "first", PartnerID: "p", DestroyAt: at.Add(-time.Hour)}
			if _, _, err := s.AdvanceKeyStatus(ctx, id, stored); err != nil {
				t.Fatal(err)
			}
			nr := keys.Record{State: next, Reason: "second", CommandID: "c", DestroyAt: at, DestroyedAt: at}
			want, wantChanged, err := keys.Advance(stored, nr)
			if err != nil {
				t.Fatal(err)
			}
			got, changed, err := s.AdvanceKeyStatus(ctx, id, nr)
			if err != nil {
				t.Fatalf("%s over %s: %v", next, cur, err)
			}
			if changed != wantChanged || got.State != want.State || got.Reason != want.Reason || got.CommandID != want.CommandID ||
				!got.DestroyAt.Equal(want.DestroyAt) || !got.DestroyedAt.Equal(want.DestroyedAt) {
				t.Errorf("%s over %s: script gave %+v (changed %v), keys.Advance %+v (changed %v)", next, cur, got, changed, want, wantChanged)
			}
		}
	}
}
