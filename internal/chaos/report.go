package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints one line per scenario: the counts, the client errors
// by code, the recovery time and the verdict, then every violation.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "scenario\tsent\tacked\tapplied\trejected\tdead-lettered\tretried\ttimeouts\terrors by code\trecovery\tworst partition\tunaffected p99\tslowest\tlate\tviolations\tresult")
	for _, r := range results {
		c := r.Counts
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Name, c.Sent, c.Acknowledged, c.Applied,
			c.Rejected, c.DeadLettered, c.Retried, c.Timeouts, byCode(c.ErrorsByCode), recovery(r.Recovery), worstPartition(r.Partitions), r.Unaffected.column(),
			r.Slowest.Round(time.Millisecond), r.LateAnswers, len(r.Violations), result(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		for _, v := range r.Violations {
			_, _ = fmt.Fprintf(w, "%s: %s\n", r.Name, v)
		}
		if r.Error != "" {
			_, _ = fmt.Fprintf(w, "%s: error:%s\n", r.Name, r.Error)
		}
	}
	return nil
}

func byCode(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}

func recovery(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return d.Round(time.Millisecond).String()
}

func result(r *Result) string {
	if r.Passed() {
		return "PASS"
	}
	return "FAIL"
}

// Summary is what the JSON report holds.
type Summary struct {
	Seed      int64     `json:"seed"`
	Short     bool      `json:"short"`
	StartedAt time.Time `json:"startedAt"`
	Results   []*Result `json:"results"`
}

// WriteJSON writes the summary to path.
func WriteJSON(path string, s Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
