package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/telemetry"
)

// handleMessage handles a message of the event consumer.
func (s *Service) handleMessage(ctx context.Context, m natsbus.Message) error {
	return s.traced(ctx, s.cfg.Logger.With("stream_seq", m.StreamSeq), m.Data)
}

// Handle processes one event from the customer event stream. It returns
// nil when the event is finished (its effect recorded, or not retention's
// business, or malformed, which is logged) and an error when it should be
// redelivered later (Redis, Vault or NATS failed). Handling an event
// twice, or events of one customer out of order, is harmless.
func (s *Service) Handle(ctx context.Context, data []byte) error {
	return s.traced(ctx, s.cfg.Logger, data)
}

// traced handles an event in a span of its own, continuing the trace the
// event carried (the provisioner's, and so the gateway request's); its
// log lines carry the trace id.
func (s *Service) traced(ctx context.Context, log *slog.Logger, data []byte) (err error) {
	ctx, span := telemetry.Start(ctx, "retention handle", trace.SpanKindConsumer)
	defer func() { telemetry.End(span, err) }()
	return s.handle(ctx, log.With(telemetry.LogAttrs(ctx)...), data)
}

func (s *Service) handle(ctx context.Context, log *slog.Logger, data []byte) error {
	var e command.Event
	if err := json.Unmarshal(data, &e); err != nil {
		// The event stays in the stream (limits retention); acking it
		// only stops its redelivery.
		log.Error("event cannot be decoded; skipped", "error", err.Error())
		eventsTotal.WithLabelValues("undecodable", "invalid").Inc()
		return nil
	}
	if e.Type != command.Registered && e.Type != command.Terminated {
		eventsTotal.WithLabelValues("other", "ignored").Inc()
		return nil
	}
	log = log.With("event_id", e.ID, "event_type", string(e.Type), "customer_id", e.CustomerID)
	if err := errors.Join(customer.ValidateID("customerId", e.CustomerID), customer.ValidateID("partnerId", e.PartnerID)); err != nil {
		log.Error("event has no valid ids; skipped", "error", err.Error())
		eventsTotal.WithLabelValues(string(e.Type), "invalid").Inc()
		return nil
	}
	var err error
	switch e.Type {
	case command.Registered:
		err = s.registered(ctx, log, &e)
	case command.Terminated:
		err = s.terminated(ctx, log, &e)
	}
	switch {
	case errors.Is(err, errInvalidEvent):
		s.unreadable(log, sourceEvent, err)
		eventsTotal.WithLabelValues(string(e.Type), "invalid").Inc()
		return nil
	case errors.Is(err, keys.ErrUnreadable):
		// Left alone and redelivered (with backoff) until an operator
		// fixes the record; then the event finishes normally.
		s.unreadable(log, sourceKeyRecord, err)
		eventsTotal.WithLabelValues(string(e.Type), "retry").Inc()
		return err
	case err != nil:
		eventsTotal.WithLabelValues(string(e.Type), "retry").Inc()
		log.Warn("event failed; it will be redelivered", "error", err.Error())
		return err
	}
	eventsTotal.WithLabelValues(string(e.Type), "done").Inc()
	return nil
}

// registered creates the customer's key and records it ACTIVE, unless the
// customer's termination was handled first (events out of order): then a
// key is pointless, and one created by a concurrent delivery is destroyed.
func (s *Service) registered(ctx context.Context, log *slog.Logger, e *command.Event) error {
	id := e.CustomerID
	rec, err := s.cfg.Store.KeyStatus(ctx, id)
	if err != nil {
		return err
	}
	if rec.State == keys.Scheduled || rec.State == keys.Destroyed {
		log.Info("customer already terminated; key not created", "key_state", string(rec.State))
		return s.ensureGone(ctx, log, id, rec)
	}
	if err := s.retryVault(ctx, func(ctx context.Context) error { return s.cfg.Keys.CreateKey(ctx, id) }); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	rec, changed, err := s.cfg.Store.AdvanceKeyStatus(ctx, id, keys.Record{State: keys.Active, PartnerID: e.PartnerID})
	if err != nil {
		return err
	}
	if rec.State != keys.Active {
		// The termination was handled while the key was being created.
		log.Info("customer terminated meanwhile", "key_state", string(rec.State))
		return s.ensureGone(ctx, log, id, rec)
	}
	if changed {
		keysCreated.Inc()
		log.Info("key created")
	}
	return s.publishOnce(ctx, id, rec, &command.Event{
		Type: command.KeyCreated, CustomerID: id, PartnerID: e.PartnerID,
		CommandID: e.CommandID, OccurredAt: s.cfg.Now().UTC(),
	})
}

// ensureGone makes sure no key exists for a customer whose key is recorded
// DESTROYED (a create that raced with the destruction would otherwise
// leave one behind). A SCHEDULED key is the sweeper's.
func (s *Service) ensureGone(ctx context.Context, log *slog.Logger, id string, rec keys.Record) error {
	if rec.State != keys.Destroyed {
		return nil
	}
	if err := s.retryVault(ctx, func(ctx context.Context) error { return s.cfg.Keys.DestroyKey(ctx, id) }); err != nil {
		return fmt.Errorf("destroy key of a destroyed customer key: %w", err)
	}
	log.Debug("key recorded destroyed is gone from vault")
	return nil
}

// errInvalidEvent marks an event retention cannot act on and finishes
// without effect (logged and counted; it stays in the stream).
var errInvalidEvent = errors.New("event cannot be applied")

// terminated applies the termination's retention: INDEFINITE keeps the key
// (recorded in the reason); NO_RETENTION and TEMPORARY schedule its
// destruction, and a destruction that is already due (always for
// NO_RETENTION; for TEMPORARY after downtime) is carried out at once.
func (s *Service) terminated(ctx context.Context, log *slog.Logger, e *command.Event) error {
	var strategy customer.Strategy
	period := 0
	if e.Retention != nil {
		strategy, period = e.Retention.Strategy, e.Retention.Period
	}
	reason := reasonFor(strategy, period)
	at, destroy, err := s.destructionDate(e)
	if err != nil {
		return err
	}
	if !destroy {
		if e.Retention == nil || e.Retention.Strategy != customer.Indefinite {
			// Kept, which can still be undone; but someone must look.
			s.unreadable(log, sourceEvent, fmt.Errorf("termination retention (strategy %q, period %d) is not one retention can apply; key kept", strategy, period))
		}
		return s.keep(ctx, log, e, reason)
	}
	rec, scheduled, err := s.scheduleDestruction(ctx, log, e, at, reason)
	if !scheduled || err != nil {
		return err
	}
	s.destroyIfDue(ctx, log, e.CustomerID, rec)
	return nil
}

// destructionDate reads from the termination when its key is to be
// destroyed; destroy is false when the key is kept. It fails with
// errInvalidEvent when the date cannot be known.
func (s *Service) destructionDate(e *command.Event) (at time.Time, destroy bool, err error) {
	if e.Retention == nil {
		return time.Time{}, false, nil
	}
	if e.Retention.Strategy == customer.Temporary && e.OccurredAt.IsZero() {
		// The date counts from the termination; without its time
		// there is no date (the zero time would make it due long
		// ago). Nothing is recorded: a corrected event still can.
		return time.Time{}, false, fmt.Errorf("%w: TEMPORARY termination without occurredAt; key not scheduled", errInvalidEvent)
	}
	at, destroy = e.Retention.DestroyAt(e.OccurredAt)
	if !destroy {
		return at, false, nil
	}
	now := s.cfg.Now()
	if e.Retention.Strategy == customer.NoRetention {
		// "Now" is retention's now: a provisioner clock running ahead
		// (or an event without its time) must not delay the
		// destruction. Whole milliseconds, the schedule's resolution,
		// so that it is due at once.
		if at.After(now) || at.IsZero() {
			at = now.UTC()
		}
		at = at.Truncate(time.Millisecond)
	}
	return at, true, nil
}

// scheduleDestruction records the key SCHEDULED for at, enters it in the
// schedule and, for TEMPORARY, publishes KeyScheduled. scheduled is false
// when the key was already destroyed (then its event is published again).
func (s *Service) scheduleDestruction(ctx context.Context, log *slog.Logger, e *command.Event, at time.Time, reason string) (rec keys.Record, scheduled bool, err error) {
	id := e.CustomerID
	rec, changed, err := s.cfg.Store.AdvanceKeyStatus(ctx, id, keys.Record{
		State: keys.Scheduled, DestroyAt: at, Reason: reason, PartnerID: e.PartnerID, CommandID: e.CommandID,
	})
	if err != nil {
		return rec, false, err
	}
	if rec.State == keys.Destroyed {
		// Redelivered after the destruction: make sure its event is out.
		return rec, false, s.publishDestroyed(ctx, id, rec)
	}
	if changed {
		keysScheduled.Inc()
		log.Info("key destruction scheduled", "destroy_at", rec.DestroyAt, "strategy", e.Retention.Strategy)
	}
	// The record first, then the schedule: an entry in the schedule always
	// has a SCHEDULED (or DESTROYED) record behind it.
	if err := s.cfg.Store.ScheduleKeyDestruction(ctx, id, rec.DestroyAt); err != nil {
		return rec, false, err
	}
	if e.Retention.Strategy == customer.Temporary {
		if err := s.publishOnce(ctx, id, rec, &command.Event{
			Type: command.KeyScheduled, CustomerID: id, PartnerID: rec.PartnerID, CommandID: rec.CommandID,
			OccurredAt: s.cfg.Now().UTC(), Reason: rec.Reason, At: rec.DestroyAt,
		}); err != nil {
			return rec, false, err
		}
	}
	return rec, true, nil
}

// destroyIfDue carries out a scheduled destruction that is already due,
// if this replica can claim it. Any failure is only logged: the entry
// stays in the durable schedule and the sweeper retries it.
func (s *Service) destroyIfDue(ctx context.Context, log *slog.Logger, id string, rec keys.Record) {
	now := s.cfg.Now()
	if rec.DestroyAt.After(now) {
		return
	}
	c, ok, err := s.cfg.Store.ClaimKeyDestruction(ctx, id, now, s.cfg.Lease)
	if err != nil || !ok {
		// Not claimable: another replica is on it. A Redis error leaves
		// it to the sweeper as well: the schedule is durable.
		if err != nil {
			log.Warn("cannot claim the due destruction now; the sweeper will", "error", err.Error())
		}
		return
	}
	if _, err := s.destroy(ctx, c, now); err != nil {
		log.Warn("key destruction failed; the sweeper retries it", "error", err.Error())
	}
}

// keep records that the terminated customer's key is kept, making sure the
// key exists so that the record tells the truth even if the registration
// has not been handled yet.
func (s *Service) keep(ctx context.Context, log *slog.Logger, e *command.Event, reason string) error {
	id := e.CustomerID
	rec, err := s.cfg.Store.KeyStatus(ctx, id)
	if err != nil {
		return err
	}
	if rec.State == keys.Pending {
		if err := s.retryVault(ctx, func(ctx context.Context) error { return s.cfg.Keys.CreateKey(ctx, id) }); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
	}
	rec, changed, err := s.cfg.Store.AdvanceKeyStatus(ctx, id, keys.Record{
		State: keys.Active, Reason: reason, PartnerID: e.PartnerID, CommandID: e.CommandID,
	})
	if err != nil {
		return err
	}
	if changed {
		keysCreated.Inc()
	}
	log.Info("key kept", "key_state", string(rec.State), "reason", rec.Reason)
	return nil
}

// publishOnce publishes a key event unless the record says it was
// published already, then notes it. The event id is deterministic, so a
// crash between the two is covered by JetStream's de-duplication.
func (s *Service) publishOnce(ctx context.Context, id string, rec keys.Record, e *command.Event) error {
	if rec.Published[e.Type] {
		return nil
	}
	e.Version = command.WireVersion
	e.ID = keyEventID(e.Type, id)
	if e.PartnerID == "" {
		e.PartnerID = "unknown"
	}
	if err := s.cfg.Publisher.PublishEvent(ctx, e); err != nil {
		return err
	}
	return s.cfg.Store.MarkKeyEventPublished(ctx, id, e.Type)
}

// publishDestroyed publishes the audit event of a destroyed key: when, why
// and which command, nothing personal.
func (s *Service) publishDestroyed(ctx context.Context, id string, rec keys.Record) error {
	return s.publishOnce(ctx, id, rec, &command.Event{
		Type: command.KeyDestroyed, CustomerID: id, PartnerID: rec.PartnerID, CommandID: rec.CommandID,
		OccurredAt: rec.DestroyedAt, Reason: rec.Reason, At: rec.DestroyedAt,
	})
}
