package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/stacktest"
)

// noLeak fails when a response body shows a stack trace or any of the
// given internal details.
func noLeak(t *testing.T, raw []byte, details ...string) {
	t.Helper()
	for _, s := range append([]string{"goroutine ", ".go:", "panic"}, details...) {
		if s != "" && strings.Contains(string(raw), s) {
			t.Errorf("response leaks %q: %s", s, raw)
		}
	}
}

// wantLogged returns the log records of request rid and fails unless one
// has all the details.
func wantLogged(t *testing.T, logs, rid string, details ...string) {
	t.Helper()
	for _, rec := range logLines(logs, rid) {
		line := fmt.Sprint(rec)
		all := true
		for _, d := range details {
			all = all && strings.Contains(line, d)
		}
		if all {
			return
		}
	}
	t.Errorf("no log record with request_id %s has %q; logs:\n%s", rid, details, logs)
}

// A dependency's failure and a panic reach the client as a generic error
// with the request id and a code; the details reach only the log, under
// the same request id.
func TestInternalErrorsStayInTheLog(t *testing.T) {
	h := newHarness(t, nil)
	const secret = "nats: dial tcp 10.9.8.7:4222: connection refused (user gateway)"
	h.Pub.setHook(func(context.Context, *command.Command) error { return errors.New(secret) })
	r := h.do(h.PartnerKey, registerQuery("dep-fails", `{ response }`), nil, "X-Request-Id", "req-dependency")
	if r.Code() != "UNAVAILABLE" || !strings.Contains(r.Message(), "request req-dependency") {
		t.Fatalf("dependency failure: got %d %s, want UNAVAILABLE with the request id", r.Status, r.Raw)
	}
	noLeak(t, r.Raw, "10.9.8.7", "dial tcp", "connection refused")
	wantLogged(t, h.Logs.String(), "req-dependency", "10.9.8.7")

	h.Pub.setHook(func(context.Context, *command.Command) error { panic("secret detail: invariant broken at 0xdeadbeef") })
	r = h.do(h.PartnerKey, registerQuery("panics", `{ response }`), nil, "X-Request-Id", "req-boom")
	if r.Code() != "INTERNAL" || !strings.Contains(r.Message(), "request req-boom") || r.Status >= 500 {
		t.Fatalf("panic: got %d %s, want INTERNAL with the request id", r.Status, r.Raw)
	}
	noLeak(t, r.Raw, "deadbeef", "invariant")
	wantLogged(t, h.Logs.String(), "req-boom", "0xdeadbeef")

	// A caller's request id that could forge log lines or headers is replaced.
	r = h.do(h.PartnerKey, `{ viewer { role } }`, nil, "X-Request-Id", "evil\"} {\"level\":\"ERROR")
	if rid := r.Header.Get("X-Request-Id"); strings.ContainsAny(rid, "\"{} ") || rid == "" {
		t.Errorf("request id %q taken from the caller", rid)
	}
}

// With Redis down, the whole stack answers UNAVAILABLE with a request id
// and no dependency message; the log has the Redis error under that id.
func TestRedisDownIsHiddenFromClients(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	s.Redis.Stop(t)
	for _, q := range []string{
		`{ customer(id: "` + docsCustomerID + `") { id } }`,
		registerQuery("redis-down", `{ response }`),
	} {
		rid := fmt.Sprintf("down-%d", len(q))
		r := s.Do(s.PartnerKey, q, nil, "X-Request-Id", rid)
		if r.Status != http.StatusServiceUnavailable || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAVAILABLE" ||
			!strings.Contains(r.Errors[0].Message, "request "+rid) {
			t.Fatalf("got %d %s, want 503 UNAVAILABLE with the request id", r.Status, r.Raw)
		}
		recs := logLines(s.Logs.String(), rid)
		var detail string
		for _, rec := range recs {
			if e, ok := rec["error"].(string); ok && e != "" {
				detail = e
			}
		}
		if detail == "" {
			t.Fatalf("no log record with request_id %s carries the error; logs:\n%s", rid, s.Logs.String())
		}
		noLeak(t, r.Raw, detail, s.Redis.Addr, "redis", "dial")
	}
}
