package keys_test

import (
	"errors"
	"testing"
	"time"

	"github.com/textkit/customers/internal/keys"
)

func TestStatesMoveOnlyForward(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, cur := range keys.States() {
		for j, next := range keys.States() {
			stored := keys.Record{State: cur, Reason: "first"}
			got, changed, err := keys.Advance(stored, keys.Record{State: next, Reason: "second", DestroyAt: at})
			if err != nil {
				t.Fatalf("%s over %s: %v", next, cur, err)
			}
			switch {
			case j > i:
				if !changed || got.State != next || got.Reason != "second" || !got.DestroyAt.Equal(at) {
					t.Errorf("%s over %s: %+v (changed %v), want the later state with its fields", next, cur, got, changed)
				}
			case j == i:
				if changed || got.State != cur || got.Reason != "first" || !got.DestroyAt.Equal(at) {
					t.Errorf("%s over %s: %+v (changed %v), want only the empty fields filled", next, cur, got, changed)
				}
			default:
				if changed || got.State != cur || got.Reason != "first" || !got.DestroyAt.IsZero() {
					t.Errorf("%s over %s: %+v (changed %v), want nothing changed", next, cur, got, changed)
				}
			}
		}
	}
}

func TestUnknownStatesAreNeverAdvanced(t *testing.T) {
	if _, _, err := keys.Advance(keys.Record{State: keys.Active}, keys.Record{State: "GONE"}); err == nil {
		t.Error("an unknown new state was accepted")
	}
	cur := keys.Record{State: "GONE", Reason: "r"}
	got, changed, err := keys.Advance(cur, keys.Record{State: keys.Destroyed})
	if !errors.Is(err, keys.ErrUnreadable) || changed || got.State != cur.State {
		t.Errorf("over an unknown stored state: %+v, %v, %v; want it left alone as unreadable", got, changed, err)
	}
}

func TestWhatARecordNeeds(t *testing.T) {
	for _, c := range []struct {
		r        keys.Record
		problems int
	}{
		{keys.Record{State: keys.Pending}, 0},
		{keys.Record{State: keys.Scheduled, DestroyAt: time.Now()}, 0},
		{keys.Record{State: keys.Scheduled}, 1},
		{keys.Record{State: ""}, 1},
		{keys.Record{State: "LATER"}, 1},
	} {
		p := c.r.Problems()
		if len(p) != c.problems {
			t.Errorf("%+v: problems %q, want %d", c.r, p, c.problems)
		}
		if err := keys.Unreadable(p); (err != nil) != (c.problems > 0) || (err != nil && !errors.Is(err, keys.ErrUnreadable)) {
			t.Errorf("%+v: Unreadable = %v", c.r, err)
		}
	}
}
