package scripts_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadScript: scripts/load.sh, the one documented command for a load
// run, starts the stack when none is running, runs the load and leaves
// the ledger, report.json and report.html where it says.
func TestLoadScript(t *testing.T) {
	st := newStack(t)
	if st.skipMissing {
		t.Skip("some cmd/<name> has no main package yet: no gateway to load")
	}
	st.env = append(st.env, "TEXTKIT_LOAD_DURATION=3s")
	out := st.run(t, "load.sh", "-ceiling", "1s", "-progress", "1s")
	html := ""
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "Open "); ok {
			html = strings.TrimSuffix(rest, " in a browser for the plots.")
		}
	}
	if html == "" || !strings.HasPrefix(html, filepath.Join(st.dir, "load")) {
		t.Fatalf("load.sh did not say where the report is:\n%s", out)
	}
	dir := filepath.Dir(html)
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Fatalf("report.html: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Mix, Target  string
		Commands     int
		Answers      map[string]int
		CeilingRatio float64
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Mix != "lifecycle" || rep.Target != "graphql" || rep.Commands == 0 || rep.Answers["APPLIED"] == 0 || rep.CeilingRatio <= 0 {
		t.Errorf("report.json: %s\noutput:\n%s", b, out)
	}
	if ledger, err := os.ReadFile(filepath.Join(dir, "ledger.jsonl")); err != nil || !strings.HasPrefix(string(ledger), `{"kind":"header"`) {
		t.Errorf("ledger.jsonl: %v", err)
	}
}
