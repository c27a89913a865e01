package natsbus

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ackGrace is how long Draining waits, after the last in-flight message
// was acknowledged, for the subscriber to send that acknowledgement before
// it is closed.
const ackGrace = 250 * time.Millisecond

// Draining wraps a watermill subscriber so that a graceful shutdown lets
// the messages being handled finish and be acknowledged, instead of
// aborting them to be redelivered only after the ack wait:
//
//   - watermill's router cancels its handlers' contexts as soon as it starts
//     closing, and watermill-nats derives every message's context from the
//     subscription's, so the wrapped subscriber is given a context that only
//     Close cancels;
//   - when the router's context ends or Close is called, no new message is
//     handed out (JetStream redelivers those), and Close waits, up to
//     timeout, for the messages already handed out to be acked or nacked
//     before it closes the wrapped subscriber.
//
// The router closes one subscriber once per handler; Close is idempotent.
func Draining(sub message.Subscriber, timeout time.Duration) message.Subscriber {
	return &draining{inner: sub, timeout: timeout, stopping: make(chan struct{})}
}

type draining struct {
	inner    message.Subscriber
	timeout  time.Duration
	stopping chan struct{}
	stopOnce sync.Once
	inflight inflight
	active   atomic.Int64 // messages handed out and not yet acked or nacked

	mu      sync.Mutex
	cancels []context.CancelFunc

	closeOnce sync.Once
	err       error
}

func (d *draining) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.mu.Lock()
	d.cancels = append(d.cancels, cancel)
	d.mu.Unlock()
	in, err := d.inner.Subscribe(subCtx, topic)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		// Closing out ends the router's handler: do it only once the
		// messages in flight are done.
		defer func() {
			d.waitInflight()
			close(out)
		}()
		for {
			select {
			case <-d.stopping:
				return
			case <-ctx.Done():
				d.stop()
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				d.inflight.add()
				// Read before handing m out: the router replaces it.
				mctx := m.Context()
				select {
				case out <- m:
					d.active.Add(1)
					go func() {
						defer d.inflight.done()
						defer d.active.Add(-1)
						select {
						case <-m.Acked():
						case <-m.Nacked():
						case <-mctx.Done():
						}
					}()
				case <-d.stopping:
					// Never handed out: left unacknowledged, JetStream
					// redelivers it (to another replica).
					d.inflight.done()
					return
				case <-ctx.Done():
					d.inflight.done()
					d.stop()
					return
				}
			}
		}
	}()
	return out, nil
}

func (d *draining) stop() { d.stopOnce.Do(func() { close(d.stopping) }) }

// Close stops handing out messages, waits for those in flight and closes
// the wrapped subscriber.
func (d *draining) Close() error {
	d.closeOnce.Do(func() {
		d.stop()
		if busy := d.active.Load() > 0; d.waitInflight() && busy {
			time.Sleep(ackGrace)
		}
		d.err = d.inner.Close()
		d.mu.Lock()
		for _, cancel := range d.cancels {
			cancel()
		}
		d.mu.Unlock()
	})
	return d.err
}

// waitInflight waits, up to the timeout, for the messages handed out to be
// acked or nacked; it reports whether they were.
func (d *draining) waitInflight() bool {
	idle := d.inflight.idle()
	t := time.NewTimer(d.timeout)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// inflight counts the messages between their receipt and their ack or
// nack. Unlike a sync.WaitGroup it may count up while someone waits for
// zero: every subscription's goroutine and Close wait on it while the
// others still receive.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n is 0
}

func (f *inflight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.zero)
	}
}

// idle returns a channel closed once nothing is in flight.
func (f *inflight) idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return f.zero
}
