package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/textkit/customers/internal/telemetry"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    telemetry.Config
		want string
	}{
		{telemetry.Config{Mode: "off"}, ""},
		{telemetry.Config{Mode: "stdout"}, ""},
		{telemetry.Config{Mode: "otlp"}, ""},
		{telemetry.Config{Mode: "otlp", Endpoint: "http://127.0.0.1:4318"}, ""},
		{telemetry.Config{Mode: "jaeger"}, `TEXTKIT_TRACES="jaeger": use off, stdout or otlp`},
		{telemetry.Config{Mode: ""}, `TEXTKIT_TRACES="": use off, stdout or otlp`},
		{telemetry.Config{Mode: "otlp", Endpoint: "127.0.0.1:4318"}, `OTEL_EXPORTER_OTLP_ENDPOINT="127.0.0.1:4318" must be an http(s) URL`},
	} {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: got %v, want %q", tc.c, err, tc.want)
		}
	}
}

func TestTracesURL(t *testing.T) {
	for base, want := range map[string]string{
		"":                              "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":        "http://127.0.0.1:4318/v1/traces",
		"https://otel.example:443/base": "https://otel.example:443/base/v1/traces",
	} {
		if got := telemetry.TracesURL(base); got != want {
			t.Errorf("TracesURL(%q) = %q, want %q", base, got, want)
		}
	}
}

// newRecorder installs a provider recording into the returned exporter.
func newRecorder(t *testing.T) *tracetest.InMemoryExporter {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewProvider("test", sdktrace.WithSyncer(exp))
	telemetry.Install(tp)
	t.Cleanup(func() { telemetry.Install(noop.NewTracerProvider()) })
	return exp
}

func TestSetupStdoutWritesSpans(t *testing.T) {
	var out bytes.Buffer
	shutdown, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "svc", Mode: telemetry.ModeStdout, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { telemetry.Install(noop.NewTracerProvider()) })
	_, span := telemetry.Start(context.Background(), "work", trace.SpanKindInternal)
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name     string
		Resource []struct {
			Key   string
			Value struct{ Value string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout exporter wrote %q: %v", out.String(), err)
	}
	if got.Name != "work" || len(got.Resource) != 1 || got.Resource[0].Key != "service.name" || got.Resource[0].Value.Value != "svc" {
		t.Errorf("stdout exporter wrote %q, want the span named work of service svc", out.String())
	}
}

func TestLogHandlerAddsTraceID(t *testing.T) {
	newRecorder(t)
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "x")
	ctx, span := telemetry.Start(context.Background(), "op", trace.SpanKindInternal)
	defer span.End()
	log.InfoContext(ctx, "inside")
	log.Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2: %s", len(lines), buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := in["trace_id"], span.SpanContext().TraceID().String(); got != want {
		t.Errorf("trace_id = %v, want %s", got, want)
	}
	if got, want := in["span_id"], span.SpanContext().SpanID().String(); got != want {
		t.Errorf("span_id = %v, want %s", got, want)
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("a line logged without a span carries a trace_id: %s", lines[1])
	}
	if got := telemetry.LogAttrs(ctx); len(got) != 4 || got[1] != span.SpanContext().TraceID().String() {
		t.Errorf("LogAttrs = %v", got)
	}
	if got := telemetry.LogAttrs(context.Background()); got != nil {
		t.Errorf("LogAttrs without a span = %v, want none", got)
	}
}

// The server span continues the caller's trace; the client transport
// injects traceparent and makes a child span, and leaves requests
// without a span alone.
func TestHTTPPropagation(t *testing.T) {
	exp := newRecorder(t)
	var gotParent string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotParent = r.Header.Get("traceparent")
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(backend.Close)
	client := &http.Client{Transport: telemetry.Transport("backend", nil)}
	front := httptest.NewServer(telemetry.Handler("front", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, backend.URL+"/x", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		_ = resp.Body.Close()
	})))
	t.Cleanup(front.Close)

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodGet, front.URL, nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want the server's and the client's", len(spans))
	}
	clientSpan, serverSpan := spans[0], spans[1]
	if clientSpan.Name != "backend GET" || serverSpan.Name != "front" {
		t.Fatalf("spans %q, %q; want backend GET, front", clientSpan.Name, serverSpan.Name)
	}
	if got := serverSpan.SpanContext.TraceID().String(); got != callerTrace {
		t.Errorf("server span in trace %s, want the caller's %s", got, callerTrace)
	}
	if clientSpan.Parent.SpanID() != serverSpan.SpanContext.SpanID() {
		t.Errorf("client span's parent %s, want the server span %s", clientSpan.Parent.SpanID(), serverSpan.SpanContext.SpanID())
	}
	if want := "00-" + callerTrace + "-" + clientSpan.SpanContext.SpanID().String() + "-01"; gotParent != want {
		t.Errorf("backend got traceparent %q, want %q", gotParent, want)
	}
	if clientSpan.Status.Code.String() != "Error" {
		t.Errorf("a 418 answer: client span status %v, want Error", clientSpan.Status)
	}

	// Without a span in the request's context: no span, no header.
	exp.Reset()
	gotParent = "unset"
	r2, _ := http.NewRequest(http.MethodGet, backend.URL, nil)
	resp, err = client.Do(r2)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if gotParent != "" || len(exp.GetSpans()) != 0 {
		t.Errorf("untraced request: traceparent %q and %d spans, want none", gotParent, len(exp.GetSpans()))
	}
}
