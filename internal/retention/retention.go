// Package retention manages the lifecycle of customers' Vault transit keys
// (crypto-shredding): it creates a customer's key when the customer is
// registered and, when the customer is terminated, destroys the key at
// once (NO_RETENTION), on schedule (TEMPORARY) or never (INDEFINITE).
//
// It consumes the provisioner's events (at least once, possibly out of
// order, possibly on several replicas at once) and keeps two things in
// Redis: the key record (keys.Record, which only moves forward:
// PENDING, ACTIVE, SCHEDULED, DESTROYED) and the schedule of destructions.
// A sweeper destroys due keys; any number of replicas may sweep, because
// each due entry is claimed atomically with a lease. A key is recorded as
// destroyed only once Vault confirmed it, and a customer.key.destroyed
// event (ids, times and the reason; no personal data) is published after.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/natsbus"
)

// Keys is the Vault transit adapter (internal/vault.Client) as retention
// uses it: it manages keys and never sees customer data. CreateKey is
// idempotent; DestroyKey returns nil only when Vault confirmed the key is
// gone by a read of the key after the delete (a "not found" from the
// delete alone proves nothing), also when it was gone already.
type Keys interface {
	CreateKey(ctx context.Context, customerID string) error
	DestroyKey(ctx context.Context, customerID string) error
}

// Publisher publishes key lifecycle events (natsbus.Publisher), de-duplicated
// by event id.
type Publisher interface {
	PublishEvent(ctx context.Context, e *command.Event) error
}

// Config holds the service's collaborators and settings. Zero optional
// fields take the defaults documented on them.
type Config struct {
	Store     Store
	Keys      Keys
	Publisher Publisher
	Logger    *slog.Logger
	// Now is the clock that decides when a key is due; time.Now by default.
	// Tests inject theirs to prove that no key is destroyed early.
	Now func() time.Time
	// IsTransient says whether a Keys (Vault) error is worth retrying.
	// Default failure.IsTransient, the rule every service shares; tests
	// inject their own for fake Keys.
	IsTransient func(error) bool
	// SweepInterval is how often Run looks for due keys (it also sweeps
	// once at start). Default 30s.
	SweepInterval time.Duration
	// Lease is how long a claimed schedule entry stays invisible to other
	// replicas; if its replica dies, another takes it over after that. It
	// must exceed one destruction's Vault calls with their retries.
	// Default 2m.
	Lease time.Duration
	// VaultRetry bounds the retries of one Vault call within one event or
	// sweep: transient failures beyond it are retried by the next
	// delivery or sweep. Default 3 attempts, 200ms doubling to 2s.
	VaultRetry natsbus.Backoff
	// VaultAttempts is the number of calls VaultRetry allows. Default 3.
	VaultAttempts int
	// PermanentRetry is how long a key whose destruction failed for a
	// reason retrying cannot fix (e.g. its record cannot be read) waits
	// before it is tried again, so it does not hold up other keys; a key
	// Vault refused to destroy waits as long as it is overdue, from 30 s
	// up to PermanentRetry. Default 10m.
	PermanentRetry time.Duration
}

// Validate reports a missing collaborator or a bad setting, and sets the
// defaults of zero optional fields.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("retention: Store is required"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("retention: Keys is required"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("retention: Publisher is required"))
	}
	if c.SweepInterval < 0 || c.Lease < 0 || c.PermanentRetry < 0 || c.VaultAttempts < 0 ||
		c.VaultRetry.Base < 0 || c.VaultRetry.Max < 0 {
		errs = append(errs, errors.New("retention: durations and attempts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.IsTransient == nil {
		c.IsTransient = failure.IsTransient
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = 30 * time.Second
	}
	if c.Lease == 0 {
		c.Lease = 2 * time.Minute
	}
	if c.VaultRetry == (natsbus.Backoff{}) {
		c.VaultRetry = natsbus.Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second}
	}
	if c.VaultAttempts == 0 {
		c.VaultAttempts = 3
	}
	if c.PermanentRetry == 0 {
		c.PermanentRetry = 10 * time.Minute
	}
	return nil
}

// Service is the retention service. It is safe for concurrent use.
type Service struct {
	cfg Config
}

// New returns a service for cfg.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg}, nil
}

// retryVault calls fn until it succeeds, fails permanently or the attempts
// run out, backing off in between.
func (s *Service) retryVault(ctx context.Context, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !s.cfg.IsTransient(err) || attempt >= s.cfg.VaultAttempts {
			return err
		}
		t := time.NewTimer(s.cfg.VaultRetry.WaitTime(uint64(attempt)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Reasons recorded on key records and key events. They name the retention
// decision, nothing about the customer.
func reasonFor(r customer.Strategy, period int) string {
	switch r {
	case customer.NoRetention:
		return "terminated with NO_RETENTION: key destroyed at termination"
	case customer.Temporary:
		return fmt.Sprintf("terminated with TEMPORARY retention: key destroyed %d calendar month(s) after termination", period)
	case customer.Indefinite:
		return "terminated with INDEFINITE retention: key kept"
	}
	return "terminated without a known retention strategy: key kept until the record is fixed"
}

// Event ids of the key events: one of each per customer, so a republished
// event is de-duplicated by JetStream.
func keyEventID(t command.EventType, customerID string) string {
	switch t {
	case command.KeyCreated:
		return "key-created-" + customerID
	case command.KeyScheduled:
		return "key-scheduled-" + customerID
	case command.KeyDestroyed:
		return "key-destroyed-" + customerID
	}
	return string(t) + "-" + customerID
}
