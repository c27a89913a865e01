package gateway

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/textkit/customers/internal/command"
)

// Outcomes delivers command outcomes to the requests waiting for them. One
// subscription serves every request; since a core NATS message can be
// missed (a reconnect), waiters also poll the outcome stored in Redis.
type Outcomes struct {
	store OutcomeReader
	poll  time.Duration

	mu      sync.Mutex
	waiters map[string]chan *command.Outcome
}

// NewOutcomes subscribes to every outcome on nc; store is where waiters
// poll for an outcome whose message they may have missed.
func NewOutcomes(nc *nats.Conn, store OutcomeReader) (*Outcomes, error) {
	o := &Outcomes{store: store, poll: 500 * time.Millisecond, waiters: map[string]chan *command.Outcome{}}
	if _, err := nc.Subscribe(command.OutcomePrefix+".>", o.receive); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *Outcomes) receive(m *nats.Msg) {
	var out command.Outcome
	if err := json.Unmarshal(m.Data, &out); err != nil {
		return
	}
	o.mu.Lock()
	ch := o.waiters[out.CommandID]
	o.mu.Unlock()
	if ch != nil {
		select {
		case ch <- &out:
		default:
		}
	}
}

// Expect registers interest in commandID's outcome; call it before
// publishing so the outcome cannot slip by. Call the returned cancel when done.
func (o *Outcomes) Expect(commandID string) (<-chan *command.Outcome, func()) {
	ch := make(chan *command.Outcome, 1)
	o.mu.Lock()
	o.waiters[commandID] = ch
	o.mu.Unlock()
	return ch, func() {
		o.mu.Lock()
		if o.waiters[commandID] == ch {
			delete(o.waiters, commandID)
		}
		o.mu.Unlock()
	}
}

// Wait returns the outcome from ch or from Redis, whichever comes first,
// or ctx's error.
func (o *Outcomes) Wait(ctx context.Context, ch <-chan *command.Outcome, partnerID, customerID, commandID string) (*command.Outcome, error) {
	t := time.NewTicker(o.poll)
	defer t.Stop()
	for {
		select {
		case out := <-ch:
			return out, nil
		case <-t.C:
			out, err := o.store.Outcome(ctx, partnerID, customerID, commandID)
			if err == nil && out != nil {
				return out, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
