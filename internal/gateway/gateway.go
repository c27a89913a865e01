// Package gateway is the GraphQL gateway: it authenticates partners,
// validates mutations early with the domain rules, publishes commands to
// JetStream and answers when their outcome arrives; queries read Redis and
// decrypt contact info through Vault.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/textkit/customers/internal/command"
)

// Keys is the Vault transit adapter as the gateway uses it (with the
// gateway's token: encrypt, decrypt, read key existence).
type Keys interface {
	Encrypt(ctx context.Context, customerID string, plaintext []byte) (string, error)
	Decrypt(ctx context.Context, customerID, ciphertext string) ([]byte, error)
	KeyStatus(ctx context.Context, customerID string) (exists bool, err error)
}

// Publisher publishes a command; the command id is its Nats-Msg-Id.
type Publisher interface {
	PublishCommand(ctx context.Context, c *command.Command) error
}

// Config holds the gateway's collaborators and limits.
type Config struct {
	Store     Store
	Publisher Publisher
	Outcomes  *Outcomes
	Keys      Keys
	Logger    *slog.Logger
	// IsKeyMissing reports whether a Keys error means the key does not
	// exist (destroyed, or not created yet).
	IsKeyMissing func(error) bool
	// MutationTimeout bounds how long a mutation takes from recording its
	// command to its answer: the publish and the wait for the outcome.
	// Default 10s.
	MutationTimeout time.Duration
	// CommandMaxAge is how long the command stream keeps a command that
	// nobody processes (natsbus.StreamLimits.CommandMaxAge): a published
	// command without an outcome is PENDING until then, and then settled
	// as rejected. Default 72h.
	CommandMaxAge time.Duration
	// KeyWait bounds how long a contact info update waits for a new
	// customer's key to exist. Default 10s.
	KeyWait time.Duration
	// Dev turns on introspection and field suggestions.
	Dev bool
	// Now is the clock (also of the rate limiter).
	Now func() time.Time
	// Limits bound what one request may ask for; zero fields take the
	// defaults (see Limits).
	Limits Limits
	// RateLimits bound how often each partner and operator may call;
	// zero fields take the defaults (see RateLimits).
	RateLimits RateLimits
}

// Validate fills defaults and reports missing collaborators.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("gateway: Store is required")
	case c.Publisher == nil:
		return errors.New("gateway: Publisher is required")
	case c.Outcomes == nil:
		return errors.New("gateway: Outcomes is required")
	case c.Keys == nil:
		return errors.New("gateway: Keys is required")
	case c.IsKeyMissing == nil:
		return errors.New("gateway: IsKeyMissing is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MutationTimeout == 0 {
		c.MutationTimeout = 10 * time.Second
	}
	if c.CommandMaxAge == 0 {
		c.CommandMaxAge = 72 * time.Hour
	}
	if c.KeyWait == 0 {
		c.KeyWait = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if err := c.Limits.Validate(c.MutationTimeout); err != nil {
		return err
	}
	return c.RateLimits.validate()
}

// Gateway serves the GraphQL API.
type Gateway struct {
	cfg     Config
	limiter *limiter
}

// New returns a gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Gateway{cfg: cfg, limiter: newLimiter(cfg.RateLimits)}, nil
}
