// Package keys holds the rules of a customer's encryption key lifecycle:
// the states a key goes through (PENDING, ACTIVE, SCHEDULED, DESTROYED),
// that it only ever moves forward (a destroyed key cannot come back), what
// a key record must hold to be acted on, and what recording a state over
// another gives (Advance). Retention decides and records key states; the
// gateway shows them; internal/redisstore stores the records, applying
// Advance atomically in Lua (its rank table mirrors this package's, and a
// test checks that the two agree).
package keys

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/textkit/customers/internal/command"
)

// State is where a customer's encryption key is in its lifecycle.
type State string

// Key states, in the only order they are ever reached.
const (
	Pending   State = "PENDING"   // retention has not created the key yet
	Active    State = "ACTIVE"    // the key exists and is used
	Scheduled State = "SCHEDULED" // the customer was terminated; the key is destroyed at DestroyAt
	Destroyed State = "DESTROYED" // the key is gone, and with it everything it sealed
)

// states lists the states in lifecycle order: a state's index is its rank.
var states = []State{Pending, Active, Scheduled, Destroyed}

// States returns every state, in lifecycle order.
func States() []State { return append([]State(nil), states...) }

// Rank returns s's place in the lifecycle (0 for PENDING), and false for
// a state that is not one of the four.
func (s State) Rank() (int, bool) {
	for i, st := range states {
		if st == s {
			return i, true
		}
	}
	return 0, false
}

// Known reports whether s is one of the four states.
func (s State) Known() bool {
	_, ok := s.Rank()
	return ok
}

// Record is what is known about a customer's key. It holds ids, times and
// reasons, never personal data.
type Record struct {
	State       State
	DestroyAt   time.Time // set when scheduled or destroyed
	DestroyedAt time.Time
	// Reason says why the key is in its state (e.g. the retention strategy
	// of the termination).
	Reason string
	// PartnerID is the customer's partner, for the key events' subjects.
	PartnerID string
	// CommandID is the command that decided the key's fate (the
	// termination), for the audit event.
	CommandID string
	// Published lists the key events already published for this key, so a
	// redelivered event does not publish them again.
	Published map[command.EventType]bool
}

// ErrUnreadable means a stored key record holds something that cannot be
// read or acted on: an unknown state, a time that does not parse, or a
// SCHEDULED record without its date. Nothing is defaulted in its place (a
// missing date read as the zero time would be "due long ago"), so such a
// record never leads to a destruction: retention leaves it alone and
// reports it until an operator fixes it. Messages name the field, never
// its content.
var ErrUnreadable = errors.New("unreadable key record")

// Problems lists what makes r unfit to act on by the lifecycle's rules:
// a state that is not one of the four, a SCHEDULED record without the
// date its key is destroyed at. A store adds what it could not parse.
func (r Record) Problems() []string {
	var problems []string
	if !r.State.Known() {
		problems = append(problems, unknownState())
	}
	if r.State == Scheduled && r.DestroyAt.IsZero() {
		problems = append(problems, "a SCHEDULED record has no destroyAt")
	}
	return problems
}

// Unreadable returns an error matching ErrUnreadable that lists problems,
// nil when there are none.
func Unreadable(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnreadable, strings.Join(problems, "; "))
}

// UnreadableState is the ErrUnreadable error of a stored state that is
// not one of the four.
func UnreadableState() error { return Unreadable([]string{unknownState()}) }

func unknownState() string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return "state is not one of " + strings.Join(names, ", ")
}

// Advance is the forward-only rule: what recording next over the stored
// record cur gives, and whether the state changed. A later state replaces
// the state and every field next sets; the same state only fills fields
// that are still empty (so a redelivered event changes nothing); an
// earlier state changes nothing. Published is not touched. A next state
// that is not one of the four is an error, and so is a cur state that is
// not (overwriting it could bring a key back, or lose a decision to
// destroy one).
func Advance(cur, next Record) (Record, bool, error) {
	nr, ok := next.State.Rank()
	if !ok {
		return cur, false, fmt.Errorf("unknown key state %q", next.State)
	}
	cr, ok := cur.State.Rank()
	if !ok {
		return cur, false, UnreadableState()
	}
	out := cur
	switch {
	case nr > cr:
		out.State = next.State
		fill(&out, next, true)
		return out, true, nil
	case nr == cr:
		fill(&out, next, false)
	}
	return out, false, nil
}

// fill copies the fields next sets into r: all of them when replace is
// set, else only into fields of r that are empty.
func fill(r *Record, next Record, replace bool) {
	str := func(dst *string, v string) {
		if v != "" && (replace || *dst == "") {
			*dst = v
		}
	}
	tm := func(dst *time.Time, v time.Time) {
		if !v.IsZero() && (replace || dst.IsZero()) {
			*dst = v
		}
	}
	str(&r.Reason, next.Reason)
	str(&r.PartnerID, next.PartnerID)
	str(&r.CommandID, next.CommandID)
	tm(&r.DestroyAt, next.DestroyAt)
	tm(&r.DestroyedAt, next.DestroyedAt)
}
