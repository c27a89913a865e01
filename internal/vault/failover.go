package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// maxFailoverBody bounds how much of an error answer failover reads to
// decide whether it comes from a node that cannot serve (Vault's error
// bodies are a few hundred bytes).
const maxFailoverBody = 64 << 10

// ParseAddrs splits a comma-separated list of Vault base URLs (the value
// of TEXTKIT_VAULT_ADDR), trimming spaces around each. Every entry must be
// an http(s) URL with a host; duplicates are an error, since they would
// make failover try one node twice.
func ParseAddrs(list string) ([]string, error) {
	var addrs []string
	seen := map[string]bool{}
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimRight(strings.TrimSpace(a), "/")
		if a == "" {
			if strings.TrimSpace(list) == "" {
				return nil, errors.New("vault addr is required")
			}
			return nil, fmt.Errorf("vault addr list %q has an empty entry", list)
		}
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("vault addr %q must be an http(s) URL like http://127.0.0.1:8200", a)
		}
		if seen[a] {
			return nil, fmt.Errorf("vault addr %q is listed twice", a)
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// failover is the http.RoundTripper of a Client given several Vault
// nodes. Each request goes to the node that answered last; when that node
// cannot be reached or answers that it cannot serve (sealed, or a standby
// that finds no active node), the request is sent to the next node, each
// node at most once per request. Any unsealed node of a raft cluster
// serves every request (standbys forward to the active node), so a dead
// or sealed node costs one refused connection, not a failed call.
//
// When every node fails, the last answer (or error) is returned and the
// caller's classification makes it a transient ErrUnavailable, as for a
// single Vault. A canceled or expired context ends the loop at once.
type failover struct {
	next  http.RoundTripper
	nodes []*url.URL
	cur   atomic.Int64 // index into nodes of the node to try first
}

// newFailover returns a failover transport over the nodes at addrs
// (already checked by ParseAddrs).
func newFailover(next http.RoundTripper, addrs []string) (*failover, error) {
	f := &failover{next: next}
	for _, a := range addrs {
		u, err := url.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("vault addr %q: %w", a, err)
		}
		f.nodes = append(f.nodes, u)
	}
	return f, nil
}

// RoundTrip sends req to the current node and fails over as described on
// failover.
func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	start := int(f.cur.Load())
	var lastErr error
	for i := range f.nodes {
		n := (start + i) % len(f.nodes)
		resp, err := f.next.RoundTrip(f.toNode(req, n, body))
		last := i == len(f.nodes)-1
		switch {
		case err != nil:
			if req.Context().Err() != nil || last {
				return nil, err
			}
			lastErr = err
			continue
		case cannotServe(resp) && !last:
			_ = resp.Body.Close()
			continue
		case isRedirect(resp.StatusCode):
			// Every node redirected or could not serve: none is active
			// now. The API client would follow one redirect to another
			// standby and return its empty answer as success.
			_ = resp.Body.Close()
			return noActiveNode(req), nil
		}
		f.cur.CompareAndSwap(int64(start), int64(n))
		return resp, nil
	}
	return nil, lastErr // only reached with no nodes, which New prevents
}

// isRedirect reports whether status is one of the redirects a Vault
// standby answers when it cannot forward a request to the active node.
func isRedirect(status int) bool {
	return status == http.StatusTemporaryRedirect || status == http.StatusFound || status == http.StatusMovedPermanently
}

// noActiveNode is the answer RoundTrip makes up when every node
// redirected: a 503 in Vault's error format, which classify reads as a
// transient ErrUnavailable.
func noActiveNode(req *http.Request) *http.Response {
	const msg = `{"errors":["no vault node can serve the request: every node is a standby without an active node"]}`
	return &http.Response{
		Status:        "503 Service Unavailable",
		StatusCode:    http.StatusServiceUnavailable,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(msg)),
		ContentLength: int64(len(msg)),
		Request:       req,
	}
}

// toNode returns a copy of req addressed to node n, with its own copy of
// body.
func (f *failover) toNode(req *http.Request, n int, body []byte) *http.Request {
	r := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = f.nodes[n].Scheme, f.nodes[n].Host
	r.URL, r.Host = &u, ""
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	return r
}

// readBody reads and closes req's body so it can be sent more than once
// (nil when there is none).
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer func() { _ = req.Body.Close() }()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("vault request body: %w", err)
	}
	return b, nil
}

// cannotServe reports whether resp says its node cannot serve requests
// now, so another node should be asked: a redirect (a standby that cannot
// forward), 503 (sealed, or not ready) or a 5xx whose message says the
// node is a standby without an active node. It leaves resp's body as it
// found it (what it read is put back).
func cannotServe(resp *http.Response) bool {
	switch {
	case isRedirect(resp.StatusCode), resp.StatusCode == http.StatusServiceUnavailable:
		return true
	case resp.StatusCode < 500:
		return false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFailoverBody))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	msg := strings.ToLower(string(b))
	return err == nil && (strings.Contains(msg, "node not active") ||
		strings.Contains(msg, "active cluster node not found") ||
		strings.Contains(msg, "standby"))
}

// healthAny runs check against each node in turn and returns nil as soon
// as one passes, else the first node's error (the one an operator
// configured first), with how many nodes were tried.
func healthAny(ctx context.Context, nodes []*Client, check func(*Client, context.Context) error) error {
	var first error
	for _, n := range nodes {
		err := check(n, ctx)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(nodes) > 1 {
		var e *Error
		if errors.As(first, &e) {
			e2 := *e
			e2.Reason = fmt.Sprintf("%s (and no other of the %d nodes is usable)", e.Reason, len(nodes))
			return &e2
		}
	}
	return first
}
