package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A scrape runs the readiness checks: textkit_ready says which pass.
func TestReadinessIsAMetric(t *testing.T) {
	o := NewOps(slog.New(slog.NewTextHandler(io.Discard, nil)))
	o.AddCheck("test_up", func(context.Context) error { return nil })
	o.AddCheck("test_down", func(context.Context) error { return errors.New("refused") })
	srv := httptest.NewServer(o.Mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`textkit_ready{check="test_up"} 1`, `textkit_ready{check="test_down"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The ops mux serves Go's profiles, and the process collector's CPU and
// RSS figures are in /metrics (textkit load and docs/benchmarks.md read
// them).
func TestOpsServesProfilesAndProcessFigures(t *testing.T) {
	o := NewOps(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(o.Mux)
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(body)
	}
	if body := get("/debug/pprof/goroutine?debug=1"); !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile: got %.200q", body)
	}
	if body := get("/debug/pprof/"); !strings.Contains(body, "heap") {
		t.Errorf("pprof index lacks heap: %.200q", body)
	}
	metrics := get("/metrics")
	for _, want := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
