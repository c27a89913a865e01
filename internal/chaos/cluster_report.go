package chaos

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/textkit/customers/internal/ledger"
)

// errorWindow fills r's client-visible error window: from the first
// answer that was neither APPLIED nor REJECTED to the last.
func errorWindow(r *Result, recs []ledger.Record) {
	var first, last time.Time
	r.Failed = 0
	for _, rec := range recs {
		if rec.Answer != ledger.Error && rec.Answer != ledger.Timeout {
			continue
		}
		r.Failed++
		if first.IsZero() || rec.AnsweredAt.Before(first) {
			first = rec.AnsweredAt
		}
		if rec.AnsweredAt.After(last) {
			last = rec.AnsweredAt
		}
	}
	r.ErrorWindow = last.Sub(first)
}

// WriteClusterTable prints, per scenario, what a node loss cost the
// clients: the failed answers (ERROR or TIMEOUT), the error window from
// the first to the last of them, and the commands retried.
func WriteClusterTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "scenario\tfailed answers\terror window (s)\tretried\trecovery\tresult")
	for _, r := range results {
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%s\t%s\n", r.Name, r.Failed, r.ErrorWindow.Seconds(), r.Counts.Retried,
			recovery(r.Recovery), result(r))
	}
	return tw.Flush()
}
