package natsbus

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
)

const (
	testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParent  = "00-" + testTraceID + "-00f067aa0ba902b7-01"
)

// consumed is what the handler's context holds for a message with h.
func consumed(h nats.Header) trace.SpanContext {
	m := message.NewMessage("id", nil)
	traceToMetadata(h, m.Metadata)
	return trace.SpanContextFromContext(traceContext(m))
}

func TestTraceContextRoundTrip(t *testing.T) {
	parent := trace.ContextWithRemoteSpanContext(context.Background(), mustParse(t, testParent))
	msg := withTrace(parent, "subj", []byte("x"))
	if got := msg.Header.Get("traceparent"); got != testParent {
		t.Fatalf("published traceparent %q, want %q", got, testParent)
	}
	if sc := consumed(msg.Header); sc.TraceID().String() != testTraceID || !sc.IsRemote() {
		t.Errorf("consumed span context %v, want the remote trace %s", sc, testTraceID)
	}
}

// A direct-NATS partner may spell the header in another case; a message
// without one starts a new trace (no parent in the handler's context).
func TestTraceContextFromPartners(t *testing.T) {
	if sc := consumed(nats.Header{"Traceparent": {testParent}}); sc.TraceID().String() != testTraceID {
		t.Errorf("Traceparent header: trace %s, want %s", sc.TraceID(), testTraceID)
	}
	if sc := consumed(nats.Header{"Nats-Msg-Id": {"x"}}); sc.IsValid() {
		t.Errorf("no traceparent: handler context has span context %v, want none", sc)
	}
	if sc := consumed(nats.Header{"traceparent": {"garbage"}}); sc.IsValid() {
		t.Errorf("malformed traceparent: handler context has span context %v, want none", sc)
	}
	if msg := withTrace(context.Background(), "subj", nil); len(msg.Header) != 0 {
		t.Errorf("no span: headers %v, want none", msg.Header)
	}
}

func mustParse(t *testing.T, tp string) trace.SpanContext {
	t.Helper()
	m := message.NewMessage("id", nil)
	m.Metadata.Set(metaTraceparent, tp)
	sc := trace.SpanContextFromContext(traceContext(m))
	if !sc.IsValid() {
		t.Fatalf("cannot parse %q", tp)
	}
	return sc
}
