package load

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CeilingConfig is the ceiling measurement: Clients connections each
// publishing MessageBytes-byte messages synchronously (one at a time,
// waiting for JetStream's acknowledgement) to a stream of its own on the
// stack's nats-server (whose sync_interval is always), for Duration. The
// stream is created first and deleted after.
type CeilingConfig struct {
	Duration     time.Duration
	Clients      int
	MessageBytes int
	NATSURL      string
	// NATSUser must be allowed to create and delete the stream and to
	// publish to Subject: on the dev stack the provisioner's user.
	NATSUser     string
	NATSPassword string
	// Stream and Subject name the test stream and its subject prefix;
	// Subject must not overlap another stream's subjects.
	Stream  string
	Subject string
}

// Ceiling is what the ceiling measurement found.
type Ceiling struct {
	Clients      int     `json:"clients"`
	MessageBytes int     `json:"messageBytes"`
	Seconds      float64 `json:"seconds"`
	Messages     int64   `json:"messages"`
	// Throughput is acknowledged publishes per second.
	Throughput float64 `json:"throughput"`
	Latency    Latency `json:"latency"`
}

// Ceiling defaults: issue 10's definition.
const (
	DefaultCeilingClients      = 8
	DefaultCeilingMessageBytes = 400
	DefaultCeilingStream       = "LOAD_CEILING"
	// DefaultCeilingSubject is under customers.outcome, the one subject
	// space the provisioner's user may publish to that no stream holds;
	// no partner's outcome subscription matches it (it is not a partner id).
	DefaultCeilingSubject = "customers.outcome.load-ceiling"
)

func (c *CeilingConfig) validate() error {
	var errs []error
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("ceiling duration %v: want a positive duration", c.Duration))
	}
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("ceiling clients %d: want at least 1", c.Clients))
	}
	if c.MessageBytes < 1 || c.MessageBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("ceiling message size %d: want 1 to 1048576 bytes", c.MessageBytes))
	}
	if u, err := url.Parse(c.NATSURL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("ceiling nats url %q: want nats://host:port", c.NATSURL))
	}
	if c.NATSUser == "" || c.NATSPassword == "" {
		errs = append(errs, errors.New("the ceiling needs a NATS user and password that may create a stream (dev stack: provisioner)"))
	}
	if c.Stream == "" || strings.ContainsAny(c.Stream, ".*> ") {
		errs = append(errs, fmt.Errorf("ceiling stream name %q: want a name without dots, wildcards or spaces", c.Stream))
	}
	if c.Subject == "" || strings.ContainsAny(c.Subject, "*> ") {
		errs = append(errs, fmt.Errorf("ceiling subject %q: want a subject prefix without wildcards", c.Subject))
	}
	return errors.Join(errs...)
}

// MeasureCeiling runs the ceiling measurement.
func MeasureCeiling(ctx context.Context, c CeilingConfig) (*Ceiling, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	conns := make([]*nats.Conn, c.Clients)
	defer func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	}()
	for i := range conns {
		nc, err := nats.Connect(c.NATSURL, nats.UserInfo(c.NATSUser, c.NATSPassword), nats.Name(fmt.Sprintf("textkit-load-ceiling-%d", i)))
		if err != nil {
			return nil, fmt.Errorf("ceiling: connect to %s as %s: %w", c.NATSURL, c.NATSUser, err)
		}
		conns[i] = nc
	}
	js, err := jetstream.New(conns[0])
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: c.Stream, Subjects: []string{c.Subject + ".>"}, Storage: jetstream.FileStorage,
		Replicas: 1, MaxAge: time.Hour, Discard: jetstream.DiscardOld,
	}); err != nil {
		return nil, fmt.Errorf("ceiling: create stream %s: %w", c.Stream, err)
	}
	res, err := publishAll(ctx, c, conns)
	// The stream is deleted whatever happened, with a context of its own.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if derr := js.DeleteStream(dctx, c.Stream); derr != nil {
		err = errors.Join(err, fmt.Errorf("ceiling: delete stream %s: %w", c.Stream, derr))
	}
	return res, err
}

// publishAll runs the clients for the duration.
func publishAll(ctx context.Context, c CeilingConfig, conns []*nats.Conn) (*Ceiling, error) {
	msg := []byte(strings.Repeat("x", c.MessageBytes))
	hist := newHist()
	var mu sync.Mutex
	var n atomic.Int64
	var errOnce sync.Once
	var firstErr error
	start := time.Now()
	deadline := start.Add(c.Duration)
	var wg sync.WaitGroup
	for i, nc := range conns {
		wg.Go(func() {
			js, err := jetstream.New(nc)
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				return
			}
			subject := fmt.Sprintf("%s.%d", c.Subject, i)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := js.Publish(ctx, subject, msg); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("ceiling: publish: %w", err) })
					return
				}
				us := max(min(time.Since(t0).Microseconds(), maxLatencyUS), minLatencyUS)
				mu.Lock()
				_ = hist.RecordValue(us) // clamped into range
				mu.Unlock()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	return &Ceiling{
		Clients: c.Clients, MessageBytes: c.MessageBytes, Seconds: elapsed.Seconds(), Messages: n.Load(),
		Throughput: float64(n.Load()) / elapsed.Seconds(), Latency: latencyOf(hist),
	}, nil
}
