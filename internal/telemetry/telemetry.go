// Package telemetry sets up OpenTelemetry tracing for the services and
// holds the small pieces of instrumentation they share: a server span per
// HTTP request, a client span per outgoing HTTP call (Twilio, Vault), a
// span per Redis command, and a log handler that puts the trace id in
// every log line written with a span in its context.
//
// Instrumentation always goes through the global tracer provider, which
// does nothing until Setup installs an exporting one; tests that prove
// propagation install one with an in-memory exporter.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Exporter modes, the values of TEXTKIT_TRACES.
const (
	ModeOff    = "off"
	ModeStdout = "stdout"
	ModeOTLP   = "otlp"
)

// DefaultOTLPEndpoint is where traces go in otlp mode when
// OTEL_EXPORTER_OTLP_ENDPOINT is not set: a collector on loopback.
const DefaultOTLPEndpoint = "http://127.0.0.1:4318"

// instrumentation is the name of our tracer.
const instrumentation = "github.com/textkit/customers"

// Propagator is the W3C trace context (traceparent, tracestate) that
// carries a trace across HTTP and NATS.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Config says where a service's spans go.
type Config struct {
	// Service is the service.name of every span.
	Service string
	// Mode is ModeOff, ModeStdout or ModeOTLP.
	Mode string
	// Endpoint is the OTLP/HTTP collector URL (otlp mode); "" is
	// OTEL_EXPORTER_OTLP_ENDPOINT, else DefaultOTLPEndpoint.
	Endpoint string
	// Stdout receives the spans in stdout mode.
	Stdout io.Writer
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeOff, ModeStdout, ModeOTLP:
	default:
		return fmt.Errorf("TEXTKIT_TRACES=%q: use off, stdout or otlp", c.Mode)
	}
	if c.Mode == ModeOTLP && c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%q must be an http(s) URL like %s", c.Endpoint, DefaultOTLPEndpoint)
		}
	}
	return nil
}

// Setup installs the global tracer provider and propagator that c asks
// for and returns the function that flushes and stops it (a no-op when
// tracing is off).
func Setup(ctx context.Context, c Config) (shutdown func(context.Context) error, err error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Mode == ModeOff {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := newExporter(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	tp := NewProvider(c.Service, sdktrace.WithBatcher(exp))
	Install(tp)
	return tp.Shutdown, nil
}

func newExporter(ctx context.Context, c Config) (sdktrace.SpanExporter, error) {
	if c.Mode == ModeStdout {
		w := c.Stdout
		if w == nil {
			return nil, errors.New("stdout mode needs a writer")
		}
		return stdouttrace.New(stdouttrace.WithWriter(w))
	}
	// The endpoint is a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is; the
	// exporter still reads the other OTEL_EXPORTER_OTLP_* variables
	// (headers, timeout) itself.
	return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(TracesURL(c.Endpoint)))
}

// TracesURL is the OTLP/HTTP traces URL of a collector's base URL
// (DefaultOTLPEndpoint when base is "").
func TracesURL(base string) string {
	if base == "" {
		base = DefaultOTLPEndpoint
	}
	return strings.TrimRight(base, "/") + "/v1/traces"
}

// NewProvider returns a tracer provider for service with opts (an
// exporter: sdktrace.WithBatcher, or WithSyncer in tests), sampling every
// trace whose parent is sampled or that starts here.
func NewProvider(service string, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	res := resource.NewSchemaless(attribute.String("service.name", service))
	opts = append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)
	return sdktrace.NewTracerProvider(opts...)
}

// Install makes tp the global tracer provider and the W3C trace context
// the global propagator.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator)
}

// Tracer is the tracer every span of ours comes from.
func Tracer() trace.Tracer {
	return otel.Tracer(instrumentation)
}

// Start starts a span named name as a child of ctx's span (or a new
// trace) with attrs.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return Tracer().Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// End records err (if any) on span and ends it.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, firstLine(err.Error()))
	}
	span.End()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
