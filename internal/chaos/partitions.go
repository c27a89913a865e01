package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/textkit/customers/internal/invariant"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
)

// PartitionBound is issue 9's bound: after a crash, every partition
// applies again within 5 s of the restarted service being ready.
const PartitionBound = 5 * time.Second

// Partition is one command partition's recovery after a crash.
type Partition struct {
	Partition int `json:"partition"`
	// Since is when the partition had work after the service was ready
	// again: that moment itself when one of its commands was in flight
	// then, else when the first of its commands was sent after it.
	Since time.Time `json:"since"`
	// Customer is the customer of that command.
	Customer string `json:"customer"`
	// Applied is when the partition's first command was applied (its
	// history entry) or answered REJECTED from Since on; zero if never.
	Applied time.Time `json:"applied,omitzero"`
	// Took is Applied minus Since; -1 when nothing was applied.
	Took time.Duration `json:"tookNs"`
}

// stalled reports whether the partition took longer than PartitionBound.
func (p Partition) stalled() bool { return p.Took < 0 || p.Took > PartitionBound }

// partitionRecovery measures, for each partition that had work after
// ready, how long it took to apply a command again (or to answer again
// one applied before). Work is a command
// the partition had to process: one answered APPLIED or REJECTED, or one
// that timed out and is in the history; a command answered ERROR never
// reached a partition, and one that timed out and was never applied may
// never have reached it either (the gateway could not publish it).
func partitionRecovery(ready time.Time, recs []ledger.Record, history map[string][]redisstore.HistoryEntry) []Partition {
	work := map[int]Partition{}
	progress := map[int][]time.Time{}
	for _, r := range recs {
		if r.CustomerID == "" || !processed(r, history[r.CustomerID]) {
			continue
		}
		p := natsbus.PartitionOf(r.CustomerID)
		if r.Answer == ledger.Rejected || answeredAgain(r, history[r.CustomerID]) {
			progress[p] = append(progress[p], r.AnsweredAt)
		}
		t := r.SentAt
		switch {
		case !r.SentAt.Before(ready):
		case appliedBefore(r, history[r.CustomerID], ready):
			continue // answered late, but applied before: no work left
		case !r.AnsweredAt.Before(ready):
			t = ready // in flight when the service became ready
		default:
			continue
		}
		if cur, ok := work[p]; !ok || t.Before(cur.Since) {
			work[p] = Partition{Partition: p, Since: t, Customer: r.CustomerID, Took: -1}
		}
	}
	for id, hist := range history {
		p := natsbus.PartitionOf(id)
		for _, h := range hist {
			progress[p] = append(progress[p], h.At)
		}
	}
	var out []Partition
	for p := range natsbus.Partitions {
		pr, ok := work[p]
		if !ok {
			continue
		}
		for _, t := range progress[p] {
			if !t.Before(pr.Since) && (pr.Applied.IsZero() || t.Before(pr.Applied)) {
				pr.Applied = t
			}
		}
		if !pr.Applied.IsZero() {
			pr.Took = pr.Applied.Sub(pr.Since)
		}
		out = append(out, pr)
	}
	return out
}

// processed reports whether r's command reached its partition: answered
// APPLIED or REJECTED, or in the history.
func processed(r ledger.Record, hist []redisstore.HistoryEntry) bool {
	if r.Answer == ledger.Applied || r.Answer == ledger.Rejected {
		return true
	}
	if r.Answer != ledger.Timeout || r.CommandID == "" {
		return false
	}
	for _, h := range hist {
		if h.CommandID == r.CommandID {
			return true
		}
	}
	return false
}

// answeredAgain reports whether r is a command published again after it
// was applied (duplicate-publish), answered APPLIED: its partition
// handled it (the provisioner answers the stored outcome again) without a
// new history entry.
func answeredAgain(r ledger.Record, hist []redisstore.HistoryEntry) bool {
	if r.Answer != ledger.Applied || r.CommandID == "" {
		return false
	}
	for _, h := range hist {
		if h.CommandID == r.CommandID && h.At.Before(r.SentAt) {
			return true
		}
	}
	return false
}

// appliedBefore reports whether the command of r, sent before ready, was
// applied before ready: its history entry, or, when the client never
// learnt its id, any entry of its customer from its sending on.
func appliedBefore(r ledger.Record, hist []redisstore.HistoryEntry, ready time.Time) bool {
	for _, h := range hist {
		if !h.At.Before(ready) {
			continue
		}
		if (r.CommandID != "" && h.CommandID == r.CommandID) || (r.CommandID == "" && !h.At.Before(r.SentAt)) {
			return true
		}
	}
	return false
}

// histories reads the history of every customer the ledger names.
func (s *Stack) histories(ctx context.Context, recs []ledger.Record) (map[string][]redisstore.HistoryEntry, error) {
	store := redisstore.New(s.rdb)
	out := map[string][]redisstore.HistoryEntry{}
	for _, r := range recs {
		if _, done := out[r.CustomerID]; done || r.CustomerID == "" {
			continue
		}
		h, err := store.History(ctx, r.CustomerID)
		if err != nil {
			return nil, err
		}
		out[r.CustomerID] = h
	}
	return out, nil
}

// checkPartitions fills r's per-partition recovery after ready and
// reports each partition slower than PartitionBound.
func (s *Stack) checkPartitions(ctx context.Context, r *Result, ready time.Time, recs []ledger.Record) {
	hist, err := s.histories(ctx, recs)
	if err != nil {
		r.Error += fmt.Sprintf(" partitions: %v", err)
		return
	}
	r.Partitions = partitionRecovery(ready, recs, hist)
	for _, p := range r.Partitions {
		if !p.stalled() {
			continue
		}
		took := "applied nothing"
		if p.Took >= 0 {
			took = "took " + p.Took.Round(time.Millisecond).String()
		}
		r.Violations = append(r.Violations, invariant.Violation{Kind: invariant.PartitionStalled, CustomerID: p.Customer,
			Detail: fmt.Sprintf("partition %d %s to apply a command after %s (bound %s; work from %s)", p.Partition, took,
				ready.Format("15:04:05.000"), PartitionBound, p.Since.Format("15:04:05.000"))})
	}
}

// worstPartition is the report's column: the slowest partition and its
// time, "-" when none was measured.
func worstPartition(ps []Partition) string {
	if len(ps) == 0 {
		return "-"
	}
	w := ps[0]
	for _, p := range ps[1:] {
		if p.Took < 0 || (w.Took >= 0 && p.Took > w.Took) {
			w = p
		}
	}
	if w.Took < 0 {
		return fmt.Sprintf("p%d:never", w.Partition)
	}
	return fmt.Sprintf("p%d:%s", w.Partition, w.Took.Round(time.Millisecond))
}
