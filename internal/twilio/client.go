// Package twilio manages the Twilio sub-account of each customer through
// Twilio's 2010-04-01 Accounts API, with the official twilio-go library.
//
// Twilio has no idempotency key for creating an account, so a customer's
// sub-account is found or created by a name derived from the customer id
// (SubaccountName): a retry after a crash or a lost response finds the
// account the first attempt made instead of making a second one.
//
// Every error is an *Error that says whether retrying can help:
// errors.Is(err, ErrTransient) for rate limits, Twilio's 5xx, timeouts and
// network failures; ErrNotFound, ErrClosed, ErrUnauthorized and ErrRejected
// for failures that the same request will meet again.
package twilio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/textkit/customers/internal/telemetry"
)

// DefaultBaseURL is Twilio's REST API.
const DefaultBaseURL = "https://api.twilio.com"

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 16

// DefaultTimeout bounds one HTTP request when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Config configures a Client.
type Config struct {
	// AccountSID and AuthToken are the main account's credentials; the
	// sub-accounts are created under it.
	AccountSID string
	AuthToken  string
	// BaseURL replaces https://api.twilio.com, e.g. with the emulator's
	// address (internal/twilio/emulator) or a Prism proxy in front of it.
	BaseURL string
	// Timeout bounds each HTTP request; DefaultTimeout when 0.
	Timeout time.Duration
	// Transport sends the requests; http.DefaultTransport when nil.
	Transport http.RoundTripper
}

// Validate reports what is wrong with c, all at once.
func (c Config) Validate() error {
	var errs []error
	if !validSID(c.AccountSID) {
		errs = append(errs, errors.New("account sid must be AC followed by 32 hex digits"))
	}
	if c.AuthToken == "" || !alphanumeric(c.AuthToken) {
		errs = append(errs, errors.New("auth token must be non-empty and alphanumeric"))
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("base url %q must be an absolute http(s) url without a query", c.BaseURL))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("twilio: invalid config: %w", err)
	}
	return nil
}

// Client manages sub-accounts of one main account. It is safe for
// concurrent use.
type Client struct {
	sid, token string
	base       *url.URL // nil: Twilio itself
	timeout    time.Duration
	transport  http.RoundTripper
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{sid: cfg.AccountSID, token: cfg.AuthToken, timeout: cfg.Timeout, transport: cfg.Transport}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	c.transport = telemetry.Transport("twilio", c.transport)
	if cfg.BaseURL != "" && strings.TrimRight(cfg.BaseURL, "/") != DefaultBaseURL {
		c.base, _ = url.Parse(strings.TrimRight(cfg.BaseURL, "/")) // checked by Validate
	}
	return c, nil
}

// AccountSID returns the main account's SID.
func (c *Client) AccountSID() string { return c.sid }

// exchange is what one call saw of its last HTTP response, which twilio-go
// does not report when the error body is not Twilio's JSON.
type exchange struct {
	status     int
	retryAfter string
}

// call is one adapter call: twilio-go's service bound to ctx.
type call struct {
	api *twapi.ApiService
	ex  *exchange
}

// newCall builds a twilio-go service whose requests carry ctx (twilio-go
// itself takes no context) and go to the configured base URL.
func (c *Client) newCall(ctx context.Context) call {
	ex := &exchange{}
	hc := &http.Client{
		Transport:     &boundTransport{ctx: ctx, timeout: c.timeout, base: c.base, next: c.transport, ex: ex},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	tc := &twclient.Client{Credentials: twclient.NewCredentials(c.sid, c.token), HTTPClient: hc}
	tc.SetAccountSid(c.sid)
	rh := twclient.NewRequestHandler(tc)
	rh.Edge, rh.Region = "", "" // not TWILIO_EDGE/TWILIO_REGION from the environment: BaseURL says where
	return call{api: twapi.NewApiService(rh), ex: ex}
}

// boundTransport gives each request the call's context and its own
// timeout, points it at the base URL, and notes the response's status.
type boundTransport struct {
	ctx     context.Context
	timeout time.Duration
	base    *url.URL
	next    http.RoundTripper
	ex      *exchange
}

func (t *boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	req = req.Clone(ctx)
	if t.base != nil {
		req.URL.Scheme = t.base.Scheme
		req.URL.Host = t.base.Host
		req.URL.Path = t.base.Path + req.URL.Path
		req.URL.RawPath = ""
		req.Host = t.base.Host
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		cancel()
		t.ex.status, t.ex.retryAfter = 0, ""
		return nil, err
	}
	t.ex.status, t.ex.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	if resp.StatusCode >= 400 {
		// twilio-go decodes an error body without closing it: read it here
		// so the connection and the timer are released at once.
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		// the body has been read (or failed to): closing it loses nothing
		_ = resp.Body.Close()
		cancel()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases the request's timeout once its body is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func validSID(s string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, "AC") {
		return false
	}
	for _, r := range s[2:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

func alphanumeric(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
