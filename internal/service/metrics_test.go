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
