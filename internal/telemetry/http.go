package telemetry

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Handler serves next inside a server span named name, continuing the
// trace of the request's traceparent header if it has one.
func Handler(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := Start(ctx, name, trace.SpanKindServer,
			attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// statusWriter notes the response's status code.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the original writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Transport sends requests through next (http.DefaultTransport when nil),
// each in a client span named after system and the method, with the
// trace context in its headers when the request's context has a span.
// Requests without a span in their context are sent untouched: a
// background health check does not start a trace of its own.
func Transport(system string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{system: system, next: next}
}

type transport struct {
	system string
	next   http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(req.Context()).IsValid() {
		return t.next.RoundTrip(req)
	}
	ctx, span := Start(req.Context(), t.system+" "+req.Method, trace.SpanKindClient,
		attribute.String("peer.service", t.system), attribute.String("http.request.method", req.Method),
		attribute.String("server.address", req.URL.Host), attribute.String("url.path", req.URL.Path))
	req = req.Clone(ctx)
	Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		End(span, err)
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, resp.Status)
	}
	span.End()
	return resp, nil
}
