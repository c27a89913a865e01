package provisioner

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	outboxRelayed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "textkit_outbox_relayed_events_total",
		Help: "Events the outbox relay published because the command that produced them did not (its provisioner died first).",
	})
	outboxOldest = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "textkit_outbox_oldest_undelivered_event_age_seconds",
		Help: "Age of the oldest event the last outbox relay pass could not deliver (0: none). Events that must reach retention wait here.",
	})
	outboxUndelivered = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "textkit_outbox_undelivered_events",
		Help: "Events the last outbox relay pass could not deliver.",
	})
)

// OutboxConfig says how often the outbox relay runs.
type OutboxConfig struct {
	// Interval between relay passes. Default 10s.
	Interval time.Duration
	// Grace is how long an event may stay in an outbox before the relay
	// publishes it: the command that produced it normally does so within
	// milliseconds. Default 30s.
	Grace time.Duration
	// Batch bounds the customers one pass looks at. Default 500.
	Batch int
}

func (c *OutboxConfig) setDefaults() {
	if c.Interval == 0 {
		c.Interval = 10 * time.Second
	}
	if c.Grace == 0 {
		c.Grace = 30 * time.Second
	}
	if c.Batch == 0 {
		c.Batch = 500
	}
}

// RelayOutbox publishes the events that applied commands left in customers'
// outboxes for longer than grace: those whose provisioner died between the
// apply and the publish, and whose command will not come back (it expired
// or was removed from the stream). Events are published in each customer's
// order and de-duplicated by id, so a second publisher (the command itself,
// another replica's relay) does no harm. It returns how many events it
// published and how many it could not.
func (p *Provisioner) RelayOutbox(ctx context.Context, grace time.Duration, batch int) (relayed, left int, err error) {
	now := p.cfg.Now()
	due, err := p.cfg.Store.OutboxDue(ctx, now.Add(-grace), batch)
	if err != nil {
		return 0, 0, err
	}
	var oldest time.Time
	var errs []error
	for _, e := range due {
		evs, err := p.cfg.Store.OutboxEvents(ctx, e.CustomerID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(evs) == 0 {
			if err := p.cfg.Store.ForgetOutbox(ctx, e); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		for i, ev := range evs {
			if now.Sub(ev.OccurredAt) < grace {
				break // the command that produced it is still at work
			}
			if err := p.deliver(ctx, ev); err != nil {
				// Later events of this customer wait: order matters.
				errs = append(errs, err)
				left += len(evs) - i
				if oldest.IsZero() || evs[i].OccurredAt.Before(oldest) {
					oldest = evs[i].OccurredAt
				}
				break
			}
			relayed++
			outboxRelayed.Inc()
			p.cfg.Logger.Warn("outbox relay published an event its command had not",
				"event_id", ev.ID, "event", string(ev.Type), "customer_id", ev.CustomerID)
		}
	}
	outboxUndelivered.Set(float64(left))
	if oldest.IsZero() {
		outboxOldest.Set(0)
	} else {
		outboxOldest.Set(now.Sub(oldest).Seconds())
	}
	return relayed, left, errors.Join(errs...)
}

// relayOutbox runs RelayOutbox every cfg.Interval until ctx ends.
func (p *Provisioner) relayOutbox(ctx context.Context, cfg OutboxConfig) {
	cfg.setDefaults()
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		if _, left, err := p.RelayOutbox(ctx, cfg.Grace, cfg.Batch); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("outbox relay pass failed; it runs again", "error", err.Error(), "undelivered", left)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
