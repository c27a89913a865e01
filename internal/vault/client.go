package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/telemetry"
)

// Defaults for Config fields left zero.
const (
	DefaultMount   = "transit"
	DefaultTimeout = 10 * time.Second
)

// Config says which Vault to talk to and how. The zero value of optional
// fields means "use the default".
type Config struct {
	// Addr is Vault's base URL, e.g. "http://127.0.0.1:8200", or a
	// comma-separated list of the base URLs of a Vault cluster's nodes
	// (TEXTKIT_VAULT_ADDR): calls go to one node and fail over to the next
	// when it is unreachable, sealed or a standby without an active node.
	// Required.
	Addr string
	// Token authenticates every call; each service uses the token that
	// Bootstrap made for it. Required.
	Token string
	// Mount is the transit mount path without slashes. Default "transit";
	// the policies Bootstrap writes assume the default.
	Mount string
	// Timeout bounds each call to Vault (default 10s), so a hung Vault
	// turns into a transient ErrUnavailable instead of a stuck handler.
	Timeout time.Duration
}

// withDefaults returns c with zero optional fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate reports what is wrong with c after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, err := ParseAddrs(c.Addr); err != nil {
		errs = append(errs, err)
	}
	if c.Token == "" {
		errs = append(errs, errors.New("vault token is required"))
	}
	if strings.Trim(c.Mount, "/") != c.Mount || strings.ContainsAny(c.Mount, " \t\n?#") {
		errs = append(errs, fmt.Errorf("vault mount %q must be a path without leading or trailing slashes", c.Mount))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("vault timeout %v must not be negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Client is the transit adapter. It is safe for concurrent use.
type Client struct {
	api     *api.Client
	mount   string
	timeout time.Duration
	// nodes holds a single-node Client per address when Addr lists
	// several; Health asks them in turn. Nil for a single address.
	nodes []*Client
}

// New returns a Client for cfg. It does not contact Vault; use Health for
// that.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vault config: %w", err)
	}
	addrs, err := ParseAddrs(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("vault config: %w", err)
	}
	ac, err := newAPIClient(addrs, cfg.Token, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	c := &Client{api: ac, mount: cfg.Mount, timeout: cfg.Timeout}
	if len(addrs) > 1 {
		for _, a := range addrs {
			one := cfg
			one.Addr = a
			n, err := New(one)
			if err != nil {
				return nil, err
			}
			c.nodes = append(c.nodes, n)
		}
	}
	return c, nil
}

// newAPIClient builds a Vault API client with the client's own retries
// switched off: our callers own retrying (see the package doc). With
// several addresses its transport fails over between them (failover).
func newAPIClient(addrs []string, token string, timeout time.Duration) (*api.Client, error) {
	addr := addrs[0]
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("vault client config: %w", ac.Error)
	}
	ac.Address = addr
	ac.Timeout = timeout
	ac.MaxRetries = 0
	next := ac.HttpClient.Transport
	if len(addrs) > 1 {
		f, err := newFailover(next, addrs)
		if err != nil {
			return nil, err
		}
		next = f
	}
	ac.HttpClient.Transport = telemetry.Transport("vault", next)
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.SetToken(token)
	return c, nil
}

// KeyName is the transit key name of a customer's key.
func KeyName(customerID string) string {
	return "customer-" + customerID
}

// path joins the mount and the rest of a transit path.
func (c *Client) path(parts ...string) string {
	return c.mount + "/" + strings.Join(parts, "/")
}

// withTimeout bounds one call. The API client applies Timeout to most
// calls itself, but not to raw reads, so every call goes through here.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// checkID rejects customer ids that would change the Vault path: the id is
// a path segment, and "a/../../sys" must not address another endpoint.
func checkID(op, customerID string) error {
	if customerID == "" || strings.ContainsAny(customerID, "/?#%\\ \t\n") || customerID == "." || customerID == ".." {
		return &Error{Op: op, Reason: "customer id is empty or not a single path segment", kind: ErrInvalid}
	}
	return nil
}
