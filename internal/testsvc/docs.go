package testsvc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DocsExamples returns the request examples of the customer-facing docs
// (shared/spec/customers-api.txt beside the repo, or $TEXTKIT_SPEC),
// verbatim and in order: each starts at a line "mutation {" and ends before
// "Which responds". Tests send them as partners paste them.
func DocsExamples(tb testing.TB) []string {
	tb.Helper()
	path := os.Getenv("TEXTKIT_SPEC")
	if path == "" {
		dir, _ := os.Getwd()
		for ; dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, "..", "shared", "spec", "customers-api.txt")
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	raw, err := os.ReadFile(path)
	if path == "" || err != nil {
		Missing(tb, "the customer-facing docs (shared/spec/customers-api.txt)", "check out shared/ beside the repo or set TEXTKIT_SPEC")
	}
	var out, cur []string
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.TrimSpace(line) == "mutation {":
			in, cur = true, []string{line}
		case in && strings.HasPrefix(line, "Which responds"):
			out = append(out, strings.TrimSpace(strings.Join(cur, "\n")))
			in = false
		case in:
			cur = append(cur, line)
		}
	}
	if len(out) != 5 {
		tb.Fatalf("found %d examples in %s, want 5", len(out), path)
	}
	return out
}
