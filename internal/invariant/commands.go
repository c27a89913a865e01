package invariant

import (
	"context"
	"sort"
	"strconv"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/redisstore"
)

// cmd is one command: every attempt the ledger holds of it (a retry with
// the same command id or Idempotency-Key is the same command).
type cmd struct {
	attempts []ledger.Record
	// id is the command id, "" when no attempt learnt it.
	id        string
	partnerID string
	typ       ledger.Type
	ordered   bool
}

// verdict is what the client learnt of a command across its attempts.
type verdict int

const (
	// told it applied: it must be in the history exactly once
	toldApplied verdict = iota
	// told it failed (every attempt REJECTED or ERROR, or one REJECTED
	// with no TIMEOUT after it): it must never be applied
	toldFailed
	// unknown (a TIMEOUT): applied at most once, and its outcome must agree
	unknown
)

func (c *cmd) verdict() verdict {
	v := toldFailed
	for _, a := range c.attempts {
		switch a.Answer {
		case ledger.Applied:
			return toldApplied
		case ledger.Rejected:
			v = toldFailed // a later definite answer settles an earlier TIMEOUT
		case ledger.Timeout:
			v = unknown // an ERROR after it (say RATE_LIMITED) says nothing of the command
		}
	}
	return v
}

// event is the history event the command makes when applied.
func (c *cmd) event() command.EventType { return command.EventOf(c.typ.Command()) }

// version is the customer version an APPLIED answer reported, 0 if none.
func (c *cmd) version() int64 {
	for _, a := range c.attempts {
		if a.Answer == ledger.Applied && a.CustomerVersion != nil {
			return *a.CustomerVersion
		}
	}
	return 0
}

// first is the sequence number of the command's first attempt.
func (c *cmd) first() int64 { return c.attempts[0].Seq }

// groupByCustomer groups the attempts into commands, per customer, each
// customer's commands in the order they were first sent.
func groupByCustomer(recs []ledger.Record) map[string][]*cmd {
	sorted := append([]ledger.Record(nil), recs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	byKey := map[string]*cmd{}
	byID := map[string]*cmd{}
	out := map[string][]*cmd{}
	for _, r := range sorted {
		key := "seq:" + strconv.FormatInt(r.Seq, 10)
		switch {
		case r.IdempotencyKey != "":
			key = "idem:" + r.CustomerID + "\x00" + r.IdempotencyKey + "\x00" + r.Field
		case r.CommandID != "":
			key = "id:" + r.CommandID
		}
		c := byKey[key]
		if c == nil && r.CommandID != "" {
			c = byID[r.CommandID]
		}
		if c == nil {
			c = &cmd{partnerID: r.PartnerID, typ: r.Type, ordered: true}
			out[r.CustomerID] = append(out[r.CustomerID], c)
		}
		byKey[key] = c
		c.attempts = append(c.attempts, r)
		if !r.Ordered {
			c.ordered = false
		}
		if c.id == "" && r.CommandID != "" {
			c.id = r.CommandID
			byID[r.CommandID] = c
		}
	}
	return out
}

// global is the state not read per customer.
type global struct {
	waiting     map[string]uint64
	pending     map[string][]redisstore.Pending // by customer
	deadLetters map[string]command.DeadLetter   // by command id
	subaccounts map[string][]Subaccount         // by FriendlyName
}

func readGlobal(ctx context.Context, src Sources, byCustomer map[string][]*cmd) (*global, error) {
	g := &global{pending: map[string][]redisstore.Pending{}, deadLetters: map[string]command.DeadLetter{},
		subaccounts: map[string][]Subaccount{}}
	var err error
	if g.waiting, err = src.Waiting(ctx); err != nil {
		return nil, err
	}
	pending, err := src.Pending(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		g.pending[p.CustomerID] = append(g.pending[p.CustomerID], p)
	}
	dls, err := src.DeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	for _, dl := range dls {
		if _, ours := byCustomer[dl.CustomerID]; ours {
			g.deadLetters[dl.CommandID] = dl
		}
	}
	subs, err := src.Subaccounts(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		g.subaccounts[s.FriendlyName] = append(g.subaccounts[s.FriendlyName], s)
	}
	return g, nil
}
