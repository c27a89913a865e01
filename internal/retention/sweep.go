package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/redisstore"
)

// SweepResult says what one sweep did.
type SweepResult struct {
	// Destroyed counts keys this sweep destroyed and recorded.
	Destroyed int
	// Settled counts due entries this sweep finished without destroying
	// anything itself (already destroyed, or not due after all).
	Settled int
	// Failed counts destructions that failed permanently and were
	// postponed by Config.PermanentRetry.
	Failed int
	// Unreadable counts due entries left alone because their schedule
	// entry or key record could not be read; they are postponed by
	// Config.PermanentRetry, like failures, and never destroyed until
	// the record is fixed.
	Unreadable int
}

// Sweep destroys every key that is due at Config.Now, one claimed entry at
// a time, until none is left: after downtime it catches up in one go. Any
// number of replicas may sweep at once; each entry is claimed by one. A
// transient failure (Vault sealed, down or answering 5xx; Redis or NATS
// unavailable) ends the sweep with that error, which matches
// failure.ErrTransient, the entry given back unchanged for the next sweep.
// A permanent failure postpones its entry and the sweep goes on; the
// failures are joined into the returned error, which is not transient.
// So is an entry that cannot be read: it is left in the schedule, counted
// and logged, never destroyed. Afterwards the overdue metrics are set from
// the schedule.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	res, err := s.sweep(ctx)
	if err == nil || !failure.IsTransient(err) {
		lastSweepSuccess.Set(float64(s.cfg.Now().UnixMilli()) / 1000)
	}
	s.observeOverdue(ctx)
	return res, err
}

// observeOverdue sets the overdue metrics from the schedule. A failure
// leaves them as they were (the sweep's own failure says why).
func (s *Service) observeOverdue(ctx context.Context) {
	if ctx.Err() != nil {
		return // shutting down
	}
	now := s.cfg.Now()
	o, err := s.cfg.Store.KeyDestructionsOverdue(ctx, now)
	if err != nil {
		s.cfg.Logger.Warn("cannot count overdue destructions", "error", err.Error())
		return
	}
	destructionsOverdue.Set(float64(o.Count))
	age := 0.0
	if o.Count > 0 && !o.Oldest.IsZero() {
		age = max(now.Sub(o.Oldest).Seconds(), 0)
	}
	oldestOverdueSeconds.Set(age)
}

func (s *Service) sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var permanent []error
	for ctx.Err() == nil {
		now := s.cfg.Now()
		claims, err := s.cfg.Store.ClaimDueKeyDestructions(ctx, now, s.cfg.Lease, 1)
		if err != nil {
			sweepErrors.WithLabelValues("transient").Inc()
			return res, failure.Transient(err)
		}
		if len(claims) == 0 {
			break
		}
		destroyed, err := s.destroy(ctx, claims[0], now)
		switch {
		case failure.IsTransient(err):
			return res, err
		case errors.Is(err, errUnreadable):
			res.Unreadable++
			permanent = append(permanent, err)
		case err != nil:
			res.Failed++
			permanent = append(permanent, err)
		case destroyed:
			res.Destroyed++
		default:
			res.Settled++
		}
	}
	return res, errors.Join(permanent...)
}

// errUnreadable marks a destruction not attempted because its schedule
// entry or key record could not be read.
var errUnreadable = errors.New("left alone: the record cannot be read")

// unreadable counts and logs a record retention cannot read. The log
// names what is wrong (field names, never their content) and the
// customer id when it is one.
func (s *Service) unreadable(log *slog.Logger, source string, err error) {
	unreadableRecords.WithLabelValues(source).Inc()
	log.Error("record cannot be read; left alone, no key is destroyed on it until it is fixed",
		"source", source, "error", err.Error())
}

// destroy carries out one claimed destruction due at now: it destroys the
// key in Vault, records it DESTROYED once Vault confirmed, publishes the
// audit event and removes the entry. On failure the entry is given back
// (transient) or postponed (permanent), never lost. A transient failure
// (Vault's, by Config.IsTransient, the sweep's context ending, or any
// failure of Redis or NATS) is returned marked failure.Transient; any other
// is permanent: retrying soon cannot help. destroyed reports whether this
// call destroyed and recorded the key.
func (s *Service) destroy(ctx context.Context, c redisstore.Claim, now time.Time) (destroyed bool, err error) {
	d := destruction{s: s, c: c, log: s.cfg.Logger.With("customer_id", c.CustomerID)}
	rec, err := d.readRecord(ctx, now)
	if err != nil {
		return false, err
	}
	if due, err := d.due(ctx, rec, now); !due {
		return false, err
	}
	if err := d.destroyInVault(ctx, now, now.Sub(rec.DestroyAt)); err != nil {
		return false, err
	}
	return d.recordDestroyed(ctx, rec)
}

// destruction is one claimed schedule entry on its way through destroy:
// every step that stops early must give the entry back (release), postpone
// it or complete it, never drop it.
type destruction struct {
	s   *Service
	c   redisstore.Claim
	log *slog.Logger
}

// settle gives the claimed entry back by fn and logs when that failed or
// the claim was no longer ours.
func (d destruction) settle(ctx context.Context, fn func(ctx context.Context) (bool, error)) {
	// Give the entry back even when ctx ended (shutdown), bounded.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ok, err := fn(sctx); err != nil {
		d.log.Warn("cannot give the schedule entry back; it is retried when its lease runs out", "error", err.Error())
	} else if !ok {
		d.log.Warn("schedule entry's lease ran out during the destruction; another replica has it")
	}
}

// release gives the entry back unchanged, for the next sweep.
func (d destruction) release(ctx context.Context) {
	d.settle(ctx, func(ctx context.Context) (bool, error) { return d.s.cfg.Store.ReleaseKeyDestruction(ctx, d.c) })
}

// postpone moves the entry to at.
func (d destruction) postpone(ctx context.Context, at time.Time) {
	d.settle(ctx, func(ctx context.Context) (bool, error) { return d.s.cfg.Store.PostponeKeyDestruction(ctx, d.c, at) })
}

// complete removes the entry: the destruction is done.
func (d destruction) complete(ctx context.Context) {
	d.settle(ctx, func(ctx context.Context) (bool, error) { return d.s.cfg.Store.CompleteKeyDestruction(ctx, d.c) })
}

// transient counts a transient failure, gives the entry back and returns
// err marked transient.
func (d destruction) transient(ctx context.Context, err error) error {
	sweepErrors.WithLabelValues("transient").Inc()
	d.release(ctx)
	return failure.Transient(err)
}

// readRecord checks that the entry names a customer and reads that
// customer's key record. An entry or record that cannot be read is
// postponed and reported errUnreadable.
func (d destruction) readRecord(ctx context.Context, now time.Time) (keys.Record, error) {
	id := d.c.CustomerID
	if err := customer.ValidateID("customerId", id); err != nil {
		// The member is not a customer id: nothing to destroy by it. Its
		// content is not logged (it could be anything).
		bad := fmt.Errorf("schedule entry of %d bytes is not a customer id", len(id))
		d.s.unreadable(d.s.cfg.Logger, sourceScheduleEntry, bad)
		d.postpone(ctx, now.Add(d.s.cfg.PermanentRetry))
		return keys.Record{}, fmt.Errorf("%w: %w", errUnreadable, bad)
	}
	rec, err := d.s.cfg.Store.KeyStatus(ctx, id)
	if errors.Is(err, keys.ErrUnreadable) {
		d.s.unreadable(d.log, sourceKeyRecord, err)
		d.postpone(ctx, now.Add(d.s.cfg.PermanentRetry))
		return keys.Record{}, fmt.Errorf("destroy key of %s: %w: %w", id, errUnreadable, err)
	}
	if err != nil {
		return keys.Record{}, d.transient(ctx, err)
	}
	return rec, nil
}

// due reports whether rec allows destroying the key at now. When it does
// not, the entry is already settled and err says why, if it is a failure.
func (d destruction) due(ctx context.Context, rec keys.Record, now time.Time) (bool, error) {
	id := d.c.CustomerID
	switch {
	case rec.State == keys.Destroyed:
		// Destroyed by an earlier attempt that stopped before the end.
		if err := d.s.publishDestroyed(ctx, id, rec); err != nil {
			return false, d.transient(ctx, err)
		}
		d.complete(ctx)
		return false, nil
	case rec.State != keys.Scheduled:
		// Never destroy a key without a recorded decision to.
		sweepErrors.WithLabelValues("permanent").Inc()
		d.log.Error("schedule entry without a scheduled key record; not destroyed", "key_state", string(rec.State))
		d.postpone(ctx, now.Add(d.s.cfg.PermanentRetry))
		return false, fmt.Errorf("destroy key of %s: key record is %s, not SCHEDULED", id, rec.State)
	case len(rec.Problems()) > 0:
		// KeyStatus reports a SCHEDULED record without a date (the
		// lifecycle's rule, keys.Record.Problems); this is the last line:
		// no date, no destruction.
		bad := keys.Unreadable(rec.Problems())
		d.s.unreadable(d.log, sourceKeyRecord, bad)
		d.postpone(ctx, now.Add(d.s.cfg.PermanentRetry))
		return false, fmt.Errorf("destroy key of %s: %w: %w", id, errUnreadable, bad)
	case now.Before(rec.DestroyAt):
		// The record is the authority on the date; never early.
		d.settle(ctx, func(ctx context.Context) (bool, error) {
			return d.s.cfg.Store.RescheduleKeyDestruction(ctx, d.c, rec.DestroyAt)
		})
		return false, nil
	}
	return true, nil
}

// minRefusedRetry is the first wait of a key whose destruction Vault
// refused (refusedRetry).
const minRefusedRetry = 30 * time.Second

// refusedRetry is how long a key whose destruction Vault refused waits
// before it is tried again: as long as it is overdue already, at least
// minRefusedRetry and at most Config.PermanentRetry. The waits double
// (30 s, 1, 2, 4, 8 min, then every PermanentRetry): a refusal that was
// Vault's passing state (a new active node still setting up its mounts
// after a failover) costs half a minute, not PermanentRetry, while one
// that needs an operator is not retried more than about once per
// PermanentRetry for long.
func (s *Service) refusedRetry(overdue time.Duration) time.Duration {
	return min(s.cfg.PermanentRetry, max(minRefusedRetry, overdue))
}

// destroyInVault destroys the key in Vault, retrying transient failures;
// on failure the entry is given back (transient) or postponed (permanent,
// by refusedRetry of how long the key is overdue).
func (d destruction) destroyInVault(ctx context.Context, now time.Time, overdue time.Duration) error {
	err := d.s.retryVault(ctx, func(ctx context.Context) error { return d.s.cfg.Keys.DestroyKey(ctx, d.c.CustomerID) })
	if err == nil {
		return nil
	}
	// The sweep's own context ending is not Vault's verdict on the
	// key: the entry is given back, like for a transient failure.
	if d.s.cfg.IsTransient(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return d.transient(ctx, fmt.Errorf("destroy key: %w", err))
	}
	sweepErrors.WithLabelValues("permanent").Inc()
	wait := d.s.refusedRetry(overdue)
	d.log.Error("vault refused to destroy the key; postponed", "error", err.Error(), "retry_in", wait.String())
	d.postpone(ctx, now.Add(wait))
	return fmt.Errorf("destroy key: %w", err)
}

// recordDestroyed records the key DESTROYED, publishes the audit event and
// completes the entry. changed reports whether this call recorded it.
func (d destruction) recordDestroyed(ctx context.Context, rec keys.Record) (changed bool, err error) {
	id := d.c.CustomerID
	// Vault confirmed by reading the key back: only now is the key
	// recorded destroyed.
	rec, changed, err = d.s.cfg.Store.AdvanceKeyStatus(ctx, id, keys.Record{
		State: keys.Destroyed, DestroyAt: rec.DestroyAt, DestroyedAt: d.s.cfg.Now().UTC(),
		Reason: rec.Reason, PartnerID: rec.PartnerID, CommandID: rec.CommandID,
	})
	if err != nil {
		// Destroyed but not recorded: the retry finds the key gone, which
		// counts as done, and records it then.
		return false, d.transient(ctx, err)
	}
	if changed {
		keysDestroyed.Inc()
		d.log.Info("key destroyed", "destroy_at", rec.DestroyAt, "destroyed_at", rec.DestroyedAt, "command_id", rec.CommandID)
	}
	if err := d.s.publishDestroyed(ctx, id, rec); err != nil {
		return changed, d.transient(ctx, err)
	}
	d.complete(ctx)
	return changed, nil
}
