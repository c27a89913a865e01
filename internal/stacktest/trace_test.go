package stacktest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/telemetry"
	"github.com/textkit/customers/internal/testenv"
)

// One registration is one trace: the gateway's HTTP request span, the
// mutation, the command through JetStream (traceparent in its headers)
// to the provisioner's span with its Redis and Twilio calls, and the
// Registered event on to retention's span and the Vault key creation.
// Every log line of the provisioner and retention about it carries the
// trace id.
func TestRegistrationIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	installProvider(t, telemetry.NewProvider("stacktest", sdktrace.WithSyncer(exp)))
	s := stacktest.Start(t, stacktest.Options{Retention: true})

	r := s.Do(s.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response customerId } }`,
		map[string]any{"in": map[string]any{"space": "traced-co", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Traced Co"}})
	var reg struct {
		RegisterCustomer struct {
			Response   bool
			CustomerID string
		}
	}
	mustDecode(t, r, &reg)
	if !reg.RegisterCustomer.Response {
		t.Fatalf("register: %s", r.Raw)
	}
	keyPath := "/v1/transit/keys/customer-" + reg.RegisterCustomer.CustomerID

	var tr spanTree
	testenv.Eventually(t, 15*time.Second, func() error {
		// A span is exported when it ends: a parent after its children.
		tr = newSpanTree(exp.GetSpans())
		if tr.find("vault PUT", keyPath) == nil || tr.find("retention handle", "") == nil {
			return fmt.Errorf("no span of the key creation (PUT %s) and its handler yet; spans: %s", keyPath, tr)
		}
		return nil
	})
	root := tr.find("graphql", "")
	if root == nil {
		t.Fatalf("no span of the HTTP request; spans: %s", tr)
	}
	if root.Parent.IsValid() {
		t.Errorf("the HTTP request span has a parent %s; a request without traceparent starts a trace", root.Parent.SpanID())
	}
	// Each span, and the span it must descend from.
	chain := []struct{ name, path, under string }{
		{"mutation registerCustomer", "", "graphql"},
		{"provisioner handle", "", "mutation registerCustomer"},
		{"twilio POST", "/Accounts.json", "provisioner handle"},
		{"redis EVALSHA", "", "provisioner handle"},
		{"retention handle", "", "provisioner handle"},
		{"vault PUT", keyPath, "retention handle"},
	}
	for _, c := range chain {
		sp, under := tr.findUnder(c.name, c.path, c.under), tr.find(c.under, "")
		if sp == nil || under == nil {
			t.Errorf("no %q span (path %q) under %q; spans: %s", c.name, c.path, c.under, tr)
			continue
		}
		if got, want := sp.SpanContext.TraceID(), root.SpanContext.TraceID(); got != want {
			t.Errorf("%s is in trace %s, the request in %s", c.name, got, want)
		}
	}
	traceID := root.SpanContext.TraceID().String()
	for _, svc := range []string{"provisioner", "retention"} {
		if logLinesWithTrace(t, s.Logs.Bytes(), svc, traceID) == 0 {
			t.Errorf("no %s log line carries trace_id %s; logs:\n%s", svc, traceID, s.Logs.Tail(20))
		}
	}
}

// installProvider makes tp the global tracer provider for the test.
func installProvider(t *testing.T, tp *sdktrace.TracerProvider) {
	prev := otel.GetTracerProvider()
	telemetry.Install(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(t.Context()) //nolint:errcheck // the in-memory exporter cannot fail
	})
}

// logLinesWithTrace counts the JSON log lines of service svc with
// trace_id id.
func logLinesWithTrace(t *testing.T, logs []byte, svc, id string) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Service string `json:"service"`
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Service == svc && line.TraceID == id {
			n++
		}
	}
	return n
}

// spanTree indexes finished spans by id.
type spanTree struct {
	spans []tracetest.SpanStub
	byID  map[trace.SpanID]*tracetest.SpanStub
}

func newSpanTree(spans tracetest.SpanStubs) spanTree {
	tr := spanTree{spans: spans, byID: map[trace.SpanID]*tracetest.SpanStub{}}
	for i := range tr.spans {
		tr.byID[tr.spans[i].SpanContext.SpanID()] = &tr.spans[i]
	}
	return tr
}

// find returns the first span named name whose url.path attribute
// contains path ("" matches any).
func (tr spanTree) find(name, path string) *tracetest.SpanStub {
	for i := range tr.spans {
		sp := &tr.spans[i]
		if sp.Name == name && matchesPath(sp, path) {
			return sp
		}
	}
	return nil
}

// matchesPath reports whether sp's url.path contains path ("" matches
// any span).
func matchesPath(sp *tracetest.SpanStub, path string) bool {
	if path == "" {
		return true
	}
	for _, a := range sp.Attributes {
		if a.Key == "url.path" && strings.Contains(a.Value.AsString(), path) {
			return true
		}
	}
	return false
}

// findUnder is find restricted to the descendants of a span named under.
func (tr spanTree) findUnder(name, path, under string) *tracetest.SpanStub {
	for i := range tr.spans {
		sp := &tr.spans[i]
		if sp.Name == name && matchesPath(sp, path) && tr.hasAncestor(sp, under) {
			return sp
		}
	}
	return nil
}

// hasAncestor reports whether a span named name is among sp's ancestors.
func (tr spanTree) hasAncestor(sp *tracetest.SpanStub, name string) bool {
	for p := tr.byID[sp.Parent.SpanID()]; p != nil; p = tr.byID[p.Parent.SpanID()] {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (tr spanTree) String() string {
	names := make([]string, len(tr.spans))
	for i, sp := range tr.spans {
		names[i] = sp.Name
	}
	return strings.Join(names, ", ")
}
