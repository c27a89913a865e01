package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SharedFile returns the path of a file of the project's shared folder
// (shared/ beside the checkout): $env when that is set, else shared/<rel>
// (rel slash-separated) in the nearest directory at or above the test's
// working directory that has it. A missing file stops the test through
// Missing; what names it in that message.
func SharedFile(tb testing.TB, env, rel, what string) string {
	tb.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			Missing(tb, what, env+": "+err.Error())
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", filepath.FromSlash(rel))
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	Missing(tb, what+" (shared/"+rel+")", "keep shared/ beside the checkout or set "+env)
	return ""
}

// DocsExamples returns the request examples of the customer-facing docs
// (shared/spec/customers-api.txt beside the repo, or $TEXTKIT_SPEC),
// verbatim and in order: each starts at a line "mutation {" and ends before
// "Which responds". Tests send them as partners paste them.
func DocsExamples(tb testing.TB) []string {
	tb.Helper()
	path := SharedFile(tb, "TEXTKIT_SPEC", "spec/customers-api.txt", "the customer-facing docs")
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read the customer-facing docs: %v", err)
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
