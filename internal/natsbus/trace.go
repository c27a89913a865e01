package natsbus

import (
	"context"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/textkit/customers/internal/telemetry"
)

// The trace context travels in the NATS message headers as W3C
// traceparent and tracestate (lower-case, as the W3C spells them), so a
// trace goes on from the gateway's HTTP request through the command,
// the provisioner's outcome and event, and retention. A message without
// them (a direct-NATS partner's command) starts a new trace.

// natsCarrier adapts nats.Header to the propagator. NATS headers are
// case-sensitive; Get looks a key up in any case so that a partner's
// "Traceparent" is understood too.
type natsCarrier nats.Header

func (c natsCarrier) Get(key string) string {
	if v := nats.Header(c).Get(key); v != "" {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (c natsCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c natsCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// withTrace returns a message to subj carrying data and ctx's trace
// context in its headers (none when ctx has no span).
func withTrace(ctx context.Context, subj string, data []byte) *nats.Msg {
	msg := nats.NewMsg(subj)
	msg.Data = data
	telemetry.Propagator.Inject(ctx, natsCarrier(msg.Header))
	return msg
}

// Metadata keys holding a consumed message's trace context between the
// unmarshaler and the handler (watermill replaces the message's context
// in between).
const (
	metaTraceparent = "traceparent"
	metaTracestate  = "tracestate"
)

// traceToMetadata copies the trace context of a consumed message's
// headers into its watermill metadata.
func traceToMetadata(h nats.Header, md message.Metadata) {
	c := natsCarrier(h)
	if v := c.Get(metaTraceparent); v != "" {
		md.Set(metaTraceparent, v)
		if s := c.Get(metaTracestate); s != "" {
			md.Set(metaTracestate, s)
		}
	}
}

// traceContext is msg's context with the remote span context the
// message carried, for the handler's span to continue.
func traceContext(msg *message.Message) context.Context {
	return telemetry.Propagator.Extract(msg.Context(), metadataCarrier(msg.Metadata))
}

// metadataCarrier reads the trace context back from watermill metadata.
type metadataCarrier message.Metadata

func (c metadataCarrier) Get(key string) string { return message.Metadata(c).Get(key) }
func (c metadataCarrier) Set(key, value string) { message.Metadata(c).Set(key, value) }
func (c metadataCarrier) Keys() []string {
	return []string{metaTraceparent, metaTracestate}
}
