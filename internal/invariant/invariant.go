// Package invariant checks a load run's ledger (internal/ledger) against
// the final state of the stack: every customer's state and history in
// Redis, the command outcomes and the gateway's pending records, the key
// records and Vault's keys, the Twilio sub-accounts, and what is left in
// the command and dead-letter streams. It reports every broken promise
// with the customer and command it concerns.
//
// The ledger says what each client was told: APPLIED must be in the
// customer's history exactly once; REJECTED and ERROR must never be
// applied; TIMEOUT may be applied at most once, and command(id) (the
// stored outcome) must tell the truth about it.
package invariant

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/textkit/customers/internal/ledger"
)

// Kind names a broken invariant.
type Kind string

// The invariants.
const (
	// Lost: the client was told APPLIED, but the command is not in the
	// customer's history (or the customer does not exist).
	Lost Kind = "LOST"
	// AppliedTwice: one command is in the history more than once.
	AppliedTwice Kind = "APPLIED_TWICE"
	// VersionGap: the history's versions are not 1, 2, 3, … without gaps,
	// or the customer's version is not the history's last.
	VersionGap Kind = "VERSION_GAP"
	// HistoryMismatch: the history disagrees with the ledger or with the
	// stored outcome (another event type, another version, an entry no
	// command explains, command(id) saying applied when it was not).
	HistoryMismatch Kind = "HISTORY_MISMATCH"
	// ErrorApplied: the client was told REJECTED or ERROR, yet the command
	// was applied.
	ErrorApplied Kind = "ERROR_APPLIED"
	// Unprocessed: a command neither applied, rejected nor dead-lettered:
	// still waiting in the command stream, or without any outcome (also a
	// command(id) that reads PENDING with nothing left to process it).
	Unprocessed Kind = "UNPROCESSED"
	// TwilioSubaccounts: a customer with zero or more than one Twilio
	// sub-account.
	TwilioSubaccounts Kind = "TWILIO_SUBACCOUNTS"
	// TwilioStatus: the sub-account's status (or SID) disagrees with the
	// customer's.
	TwilioStatus Kind = "TWILIO_STATUS"
	// KeyDestroyedEarly: the customer's key is gone (or recorded destroyed)
	// before its retention allows.
	KeyDestroyedEarly Kind = "KEY_DESTROYED_EARLY"
	// KeyAliveLate: the key still exists after its destruction date (plus
	// Options.KeyGrace), or is recorded destroyed while Vault still has it.
	KeyAliveLate Kind = "KEY_ALIVE_LATE"
	// KeyMissing: a customer that is not terminated, or one with sealed
	// contact info, has no key and never had one.
	KeyMissing Kind = "KEY_MISSING"

	// The chaos runner (internal/chaos) reports these two from the
	// ledger's timings; Check never does.

	// PartitionStalled: after a crash, a partition with commands to
	// process applied none for longer than the bound (5 s) after the
	// restarted service was ready.
	PartitionStalled Kind = "PARTITION_STALLED"
	// UnaffectedSlow: during a dependency's outage, commands that do not
	// need that dependency answered slower than the bound (p99).
	UnaffectedSlow Kind = "UNAFFECTED_SLOW"
)

// Kinds lists every kind, in report order.
var Kinds = []Kind{Lost, AppliedTwice, VersionGap, HistoryMismatch, ErrorApplied, Unprocessed,
	TwilioSubaccounts, TwilioStatus, KeyDestroyedEarly, KeyAliveLate, KeyMissing, PartitionStalled, UnaffectedSlow}

// Violation is one broken invariant.
type Violation struct {
	Kind       Kind   `json:"kind"`
	CustomerID string `json:"customerId"`
	CommandID  string `json:"commandId,omitempty"`
	Detail     string `json:"detail"`
}

// String is the violation as one line.
func (v Violation) String() string {
	s := string(v.Kind)
	if v.CustomerID != "" {
		s += " customer " + v.CustomerID
	}
	if v.CommandID != "" {
		s += " command " + v.CommandID
	}
	return s + ": " + v.Detail
}

// Counts are what the ledger and the final state hold.
type Counts struct {
	// Sent is the number of command attempts in the ledger.
	Sent int `json:"sent"`
	// Commands is the number of distinct commands (retries with the same
	// command id or Idempotency-Key count once).
	Commands int `json:"commands"`
	// Retried is Sent minus Commands: attempts that repeated a command.
	Retried int `json:"retried"`
	// Acknowledged, Rejected, Timeouts and Errors count attempts by answer.
	Acknowledged int `json:"acknowledged"`
	Rejected     int `json:"rejected"`
	Timeouts     int `json:"timeouts"`
	Errors       int `json:"errors"`
	// ErrorsByCode counts the non-applied answers by their code.
	ErrorsByCode map[string]int `json:"errorsByCode"`
	// Customers is the number of customers the ledger names.
	Customers int `json:"customers"`
	// Applied is the number of history entries of those customers.
	Applied int `json:"applied"`
	// DeadLettered is the number of dead letters of those customers.
	DeadLettered int `json:"deadLettered"`
	// OrphanSubaccounts counts sub-accounts named for a ledger customer
	// that does not exist (a registration that was rejected after Twilio
	// created the account). Not a violation: nothing uses them.
	OrphanSubaccounts int `json:"orphanSubaccounts"`
	// KeysNeverCreated counts terminated customers whose key retention
	// never created (terminated before it could; nothing sealed with it).
	KeysNeverCreated int `json:"keysNeverCreated"`
	// SettledOnRead counts commands the gateway recorded but never saw
	// published (it died, or the publish failed), past their deadline
	// and without an outcome: command(id) settles them as REJECTED, so
	// they cannot read PENDING for ever nor be applied later.
	SettledOnRead int `json:"settledOnRead"`
}

// Report is the result of a check.
type Report struct {
	Violations []Violation `json:"violations"`
	Counts     Counts      `json:"counts"`
}

// ByKind counts the violations of each kind.
func (r *Report) ByKind() map[Kind]int {
	m := map[Kind]int{}
	for _, v := range r.Violations {
		m[v.Kind]++
	}
	return m
}

// Has reports whether the report has a violation of kind k for customerID.
func (r *Report) Has(k Kind, customerID string) bool {
	for _, v := range r.Violations {
		if v.Kind == k && v.CustomerID == customerID {
			return true
		}
	}
	return false
}

// Options tune a check.
type Options struct {
	// Now is the time the check compares key dates with; time.Now when nil.
	Now func() time.Time
	// KeyGrace is how long after its destruction date a key may still
	// exist (retention's sweep interval plus its retries). Default 1 minute.
	KeyGrace time.Duration
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeyGrace == 0 {
		o.KeyGrace = time.Minute
	}
	return o
}

// Check compares the ledger (header and records, as ledger.Read returns
// them) with the final state that src reads. It returns an error only when
// a source cannot be read; broken invariants are in the report. Run it
// once the stack is quiet (nothing in flight).
func Check(ctx context.Context, src Sources, h ledger.Header, recs []ledger.Record, opt Options) (*Report, error) {
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("ledger header: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opt = opt.withDefaults()
	rep := &Report{Counts: Counts{ErrorsByCode: map[string]int{}}}
	count(&rep.Counts, recs)
	byCustomer := groupByCustomer(recs)
	rep.Counts.Customers = len(byCustomer)
	for _, cmds := range byCustomer {
		rep.Counts.Commands += len(cmds)
	}
	rep.Counts.Retried = rep.Counts.Sent - rep.Counts.Commands
	global, err := readGlobal(ctx, src, byCustomer)
	if err != nil {
		return nil, err
	}
	rep.Counts.DeadLettered = len(global.deadLetters)
	ids := make([]string, 0, len(byCustomer))
	for id := range byCustomer {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := &customerCheck{src: src, opt: opt, id: id, cmds: byCustomer[id], global: global, rep: rep}
		if err := c.run(ctx); err != nil {
			return nil, fmt.Errorf("check customer %s: %w", id, err)
		}
	}
	return rep, nil
}

// count fills the per-attempt counts.
func count(c *Counts, recs []ledger.Record) {
	c.Sent = len(recs)
	for _, r := range recs {
		switch r.Answer {
		case ledger.Applied:
			c.Acknowledged++
			continue
		case ledger.Rejected:
			c.Rejected++
		case ledger.Timeout:
			c.Timeouts++
		case ledger.Error:
			c.Errors++
		}
		code := r.Code
		if code == "" {
			code = string(r.Answer)
		}
		c.ErrorsByCode[code]++
	}
}

// Summary is the report in a few lines: the counts, then each violation.
func (r *Report) Summary() string {
	var b strings.Builder
	c := r.Counts
	fmt.Fprintf(&b, "sent %d (commands %d, retried %d), acknowledged %d, applied %d, rejected %d, timeouts %d, errors %d, dead-lettered %d\n",
		c.Sent, c.Commands, c.Retried, c.Acknowledged, c.Applied, c.Rejected, c.Timeouts, c.Errors, c.DeadLettered)
	fmt.Fprintf(&b, "violations: %d\n", len(r.Violations))
	for _, v := range r.Violations {
		b.WriteString("  " + v.String() + "\n")
	}
	return b.String()
}
