package ide_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/gateway/ide"
	"github.com/textkit/customers/internal/testenv"
)

// The examples menu holds the customer-facing docs' five examples,
// verbatim, so what a partner tries in the IDE is what the docs say.
func TestExamplesAreTheDocsExamples(t *testing.T) {
	srv := httptest.NewServer(ide.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + ide.Path + "examples.json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var got []struct{ Name, Query string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("examples.json: %v", err)
	}
	want := testenv.DocsExamples(t)
	if len(got) != len(want) {
		t.Fatalf("got %d examples, want the docs' %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Query != want[i] || got[i].Name == "" {
			t.Errorf("example %d (%q):\n%s\nwant the docs':\n%s", i, got[i].Name, got[i].Query, want[i])
		}
	}
}

// The page is self-contained: it loads only its own files, under a
// policy that forbids anything else, and /ide leads to it.
func TestPageIsSelfContained(t *testing.T) {
	srv := httptest.NewServer(ide.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ide")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != ide.Path {
		t.Fatalf("GET /ide: %s at %s", resp.Status, resp.Request.URL.Path)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	page := string(body)
	for _, want := range []string{`src="ide.js"`, `href="ide.css"`, ".data/api-key", `id="authorization"`, `id="idempotency-key"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "://") {
		t.Error("page refers to another origin")
	}
	for _, f := range []string{"ide.js", "ide.css"} {
		r, err := http.Get(srv.URL + ide.Path + f)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", f, r, err)
		}
		_ = r.Body.Close()
	}
}
