package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
)

// Message is one message from a durable JetStream consumer, as a Handler
// sees it.
type Message struct {
	// Subject is the subject the message was stored on.
	Subject string
	// MsgID is its Nats-Msg-Id header, "" if none.
	MsgID string
	// StreamSeq is its sequence in the stream, 0 if unknown.
	StreamSeq uint64
	// Data is its body.
	Data []byte
}

// Handler handles the messages of one durable consumer, which must exist
// (the service creates it before Run). Handle returns nil when the message
// is finished (it is acknowledged) and an error when it should be handled
// again: first retried in place (RouterConfig.Retry), then handed out again
// after RouterConfig.Redelivery's backoff, still ahead of the later
// messages of its subject.
type Handler struct {
	// Stream and Consumer name the durable consumer.
	Stream, Consumer string
	// Handle processes one message. Its context is not cancelled by a
	// graceful stop: the message in flight finishes (see Draining).
	Handle func(ctx context.Context, m Message) error
	// LaneKey, if set, names the lane of a message by its subject: the
	// messages of one lane are handled one after the other, in stream
	// order. Default: one lane per subject.
	LaneKey func(subject string) string
	// LaneSubjects, if set, makes Run check the order against the stream
	// itself, whatever another consumer of the same durable holds: it
	// returns every subject of the message's lane, and before a message is
	// handed out Run waits while the stream (a work queue, which holds a
	// message until it is acknowledged) still holds an earlier message on
	// one of them.
	LaneSubjects func(subject string) []string
}

// Retry is how often, and how soon, a failed message is retried in place
// before it waits for the Redelivery backoff: after InitialInterval,
// doubling up to MaxInterval, at most MaxRetries times.
type Retry struct {
	MaxRetries                   int
	InitialInterval, MaxInterval time.Duration
}

// RouterConfig says how Run consumes.
type RouterConfig struct {
	// Conn is the connection the consumers use. Closing the router drains
	// it, so it must not be the publisher's connection. Required.
	Conn *nats.Conn
	// Logger receives the router's logs (watermill's per-message info
	// logs at debug level). Default slog.Default().
	Logger *slog.Logger
	// AckWait is how long JetStream waits for a sign of life from a
	// delivery before it redelivers the message; it must match the
	// consumers' AckWait. While a message is held (queued behind its
	// subject's previous message, in a handler, or waiting for a retry),
	// Run tells JetStream before AckWait/3 passes without a sign of life
	// that the message is in progress, so AckWait can be short
	// (seconds): it is how long a message held by a crashed consumer waits
	// before another consumer gets it. Required.
	AckWait time.Duration
	// MaxHandle bounds how long a handler may keep its message: past it
	// Run stops telling JetStream that the message is in progress, and it
	// is redelivered after AckWait (a handler stuck for good must not hold
	// its subject for ever). Default DefaultMaxHandle.
	MaxHandle time.Duration
	// Redelivery is the backoff between the handlings of a message that
	// failed. Required.
	Redelivery Backoff
	// Retry is the retry in place before a redelivery.
	Retry Retry
	// CloseTimeout bounds how long a graceful stop waits for the messages
	// in flight. Required.
	CloseTimeout time.Duration
	// Running, if set, is closed once every handler runs.
	Running chan<- struct{}
}

func (c RouterConfig) validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("Conn is required")) //nolint:staticcheck // ST1005: starts with the field's name, as its siblings do
	}
	if c.AckWait <= 0 {
		errs = append(errs, fmt.Errorf("AckWait must be positive, got %v", c.AckWait))
	}
	if c.Redelivery.Base <= 0 || c.Redelivery.Max < c.Redelivery.Base {
		errs = append(errs, fmt.Errorf("Redelivery must have 0 < Base <= Max, got %v..%v", c.Redelivery.Base, c.Redelivery.Max)) //nolint:staticcheck // ST1005: as above
	}
	if c.MaxHandle < 0 {
		errs = append(errs, fmt.Errorf("MaxHandle must not be negative, got %v", c.MaxHandle))
	}
	if c.CloseTimeout <= 0 {
		errs = append(errs, fmt.Errorf("CloseTimeout must be positive, got %v", c.CloseTimeout))
	}
	if c.Retry.MaxRetries < 0 || c.Retry.InitialInterval < 0 || c.Retry.MaxInterval < c.Retry.InitialInterval {
		errs = append(errs, fmt.Errorf("Retry must have MaxRetries >= 0 and 0 <= InitialInterval <= MaxInterval, got %+v", c.Retry))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("natsbus: router config: %w", err)
	}
	return nil
}

// Run handles the messages of the handlers' durable consumers until ctx is
// cancelled: many at a time per consumer, but one at a time per subject,
// in stream order (see laneSubscriber); then it stops gracefully: no
// new message is taken, and those in flight finish and are acknowledged
// (up to CloseTimeout). A handler that panics fails its message, which is
// retried like any failure.
func Run(ctx context.Context, rc RouterConfig, handlers []Handler) error {
	if err := rc.validate(); err != nil {
		return err
	}
	if len(handlers) == 0 {
		return errors.New("natsbus: no handlers to run")
	}
	if rc.Logger == nil {
		rc.Logger = slog.Default()
	}
	if rc.MaxHandle == 0 {
		rc.MaxHandle = DefaultMaxHandle
	}
	byTopic, topics, err := handlersByTopic(handlers)
	if err != nil {
		return err
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(rc.Logger.With("component", "watermill"), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // watermill logs every message at info
	})
	sub, err := newLaneSubscriber(rc, byTopic)
	if err != nil {
		return err
	}
	router, err := newRouter(rc, wlog, sub, byTopic, topics)
	if err != nil {
		return err
	}
	if rc.Running != nil {
		go func() {
			select {
			case <-router.Running():
				close(rc.Running)
			case <-ctx.Done():
			}
		}()
	}
	err = router.Run(ctx)
	// The router closes its subscribers only when it is closed, not when
	// ctx ends: stop consuming here, or the consumers would go on pulling
	// (and keeping) messages nobody handles.
	if cerr := sub.Close(); err == nil {
		err = cerr
	}
	return err
}

// handlersByTopic checks the handlers and names each by its watermill
// topic, "<stream>/<consumer>"; topics keeps their order.
func handlersByTopic(handlers []Handler) (byTopic map[string]Handler, topics []string, err error) {
	byTopic = map[string]Handler{}
	topics = make([]string, 0, len(handlers))
	for _, h := range handlers {
		if h.Stream == "" || h.Consumer == "" || h.Handle == nil {
			return nil, nil, fmt.Errorf("natsbus: handler %q of stream %q needs a stream, a consumer and a Handle func", h.Consumer, h.Stream)
		}
		topic := h.Stream + "/" + h.Consumer
		if _, dup := byTopic[topic]; dup {
			return nil, nil, fmt.Errorf("natsbus: consumer %s of stream %s is handled twice", h.Consumer, h.Stream)
		}
		byTopic[topic] = h
		topics = append(topics, topic)
	}
	return byTopic, topics, nil
}

// newRouter returns a router with the heartbeat, recovery and retry
// middleware and one handler per topic, in the order of topics.
func newRouter(rc RouterConfig, wlog watermill.LoggerAdapter, sub message.Subscriber, byTopic map[string]Handler, topics []string) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: rc.CloseTimeout}, wlog)
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(
		middleware.Recoverer,
		middleware.Retry{
			MaxRetries:      rc.Retry.MaxRetries,
			InitialInterval: rc.Retry.InitialInterval,
			MaxInterval:     rc.Retry.MaxInterval,
			Multiplier:      2,
			Logger:          wlog,
		}.Middleware,
	)
	// Graceful stop: the router closes the subscriber, which first lets
	// the messages in flight finish and be acknowledged.
	drained := Draining(sub, rc.CloseTimeout)
	for _, topic := range topics {
		h := byTopic[topic]
		handle := h.Handle
		router.AddConsumerHandler(h.Consumer, topic, drained, func(msg *message.Message) error {
			err := handle(traceContext(msg), decode(msg))
			if err == nil {
				handled(msg)
			}
			return err
		})
	}
	return router, nil
}

// Metadata keys the unmarshaler sets on every watermill message.
const (
	metaSubject   = "nats_subject"
	metaMsgID     = "nats_msg_id"
	metaStreamSeq = "nats_stream_seq"
)

// decode is the handler's view of a message the unmarshaler made.
func decode(msg *message.Message) Message {
	seq, _ := strconv.ParseUint(msg.Metadata.Get(metaStreamSeq), 10, 64)
	return Message{
		Subject:   msg.Metadata.Get(metaSubject),
		MsgID:     msg.Metadata.Get(metaMsgID),
		StreamSeq: seq,
		Data:      msg.Payload,
	}
}
