package vault_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/textkit/customers/internal/vault"
)

// proxy sits between an adapter and the shared Vault and answers some
// requests itself, as a misrouting load balancer, a half-configured
// mount or a sick Vault might.
type proxy struct {
	mu        sync.Mutex
	intercept func(w http.ResponseWriter, r *http.Request) bool
}

func (p *proxy) set(f func(w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intercept = f
}

// through returns an adapter with token that talks to Vault through a
// proxy the test controls.
func through(t *testing.T, f *fixture, token string) (*vault.Client, *proxy) {
	t.Helper()
	target, err := url.Parse(f.srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		f := p.intercept
		p.mu.Unlock()
		if f != nil && f(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := vault.New(vault.Config{Addr: srv.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

// answer writes status with body (JSON when it starts with '{').
func answer(w http.ResponseWriter, status int, body string) {
	if strings.HasPrefix(body, "{") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/html")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// cutOff starts an answer of status promising more body than it sends,
// then drops the connection: a connection lost mid-answer.
func cutOff(w http.ResponseWriter, status int, partial string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(partial)+64))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(partial))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}

// isKeyPath reports whether r addresses the key itself (not its config).
func isKeyPath(r *http.Request, id string) bool {
	return r.URL.Path == "/v1/transit/keys/"+vault.KeyName(id)
}

// TestDestroyKeyConfirmsByReadingBack: DestroyKey returns nil only when a
// read of the key afterwards gets Vault's own "no such key". A "not
// found" from the delete, or a read answered by something that is not
// Vault, is not proof: the key would be recorded destroyed while it still
// exists, or while nobody knows.
func TestDestroyKeyConfirmsByReadingBack(t *testing.T) {
	f := shared(t)
	const vaultMissing = `{"errors":[]}`
	const noRoute = `{"errors":["no handler for route \"transit/keys/x\". route entry not found."]}`
	for _, c := range []struct {
		name      string
		intercept func(id string) func(w http.ResponseWriter, r *http.Request) bool
		gone      bool // the key is really gone afterwards
		want      error
	}{
		{"delete answered 404 but not done", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodDelete && isKeyPath(r, id) {
					answer(w, http.StatusNotFound, vaultMissing)
					return true
				}
				return false
			}
		}, false, vault.ErrInvalid},
		{"config and delete answered 404 but not done", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet {
					answer(w, http.StatusNotFound, vaultMissing)
					return true
				}
				return false
			}
		}, false, vault.ErrInvalid},
		{"delete answered no handler for route", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodDelete {
					answer(w, http.StatusNotFound, noRoute)
					return true
				}
				return false
			}
		}, false, vault.ErrInvalid},
		{"read back answered by a proxy's 404 page", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && isKeyPath(r, id) {
					answer(w, http.StatusNotFound, "<html><body>404 Not Found</body></html>")
					return true
				}
				return false
			}
		}, true, vault.ErrInvalid},
		{"read back answered by a proxy's JSON 404", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && isKeyPath(r, id) {
					answer(w, http.StatusNotFound, `{"message":"no route"}`)
					return true
				}
				return false
			}
		}, true, vault.ErrInvalid},
		{"read back answered no handler for route", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && isKeyPath(r, id) {
					answer(w, http.StatusNotFound, noRoute)
					return true
				}
				return false
			}
		}, true, vault.ErrInvalid},
		{"read back cut off mid-answer", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && isKeyPath(r, id) {
					cutOff(w, http.StatusNotFound, `{"errors":[`)
					return true
				}
				return false
			}
		}, true, vault.ErrUnavailable},
		{"read back refused", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && isKeyPath(r, id) {
					answer(w, http.StatusForbidden, `{"errors":["permission denied"]}`)
					return true
				}
				return false
			}
		}, true, vault.ErrForbidden},
		{"read back sealed", func(id string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && isKeyPath(r, id) {
					answer(w, http.StatusServiceUnavailable, `{"errors":["Vault is sealed"]}`)
					return true
				}
				return false
			}
		}, true, vault.ErrSealed},
		{"nothing in the way", nil, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := newID(t)
			if err := f.retention.CreateKey(ctx(t), id); err != nil {
				t.Fatal(err)
			}
			keys, p := through(t, f, f.tokens.Retention)
			if c.intercept != nil {
				p.set(c.intercept(id))
			}
			err := keys.DestroyKey(ctx(t), id)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("DestroyKey = %v, want nil", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("DestroyKey = %v, want %v (a destruction nobody confirmed)", err, c.want)
			}
			exists, err := f.retention.KeyStatus(ctx(t), id)
			if err != nil {
				t.Fatal(err)
			}
			if exists == c.gone {
				t.Fatalf("key exists = %v afterwards, want %v", exists, !c.gone)
			}
			// Once nothing is in the way, a retry finishes the job.
			p.set(nil)
			if err := keys.DestroyKey(ctx(t), id); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if exists, _ := f.retention.KeyStatus(ctx(t), id); exists {
				t.Fatal("key still exists after the retry")
			}
		})
	}
}

// TestDestroyKeyWithoutTheTransitMount: a Vault whose transit mount is
// missing (or another one) answers 404 "no handler for route" for
// everything; that is a misconfiguration, never a destroyed key.
func TestDestroyKeyWithoutTheTransitMount(t *testing.T) {
	f := shared(t)
	c, err := vault.New(vault.Config{Addr: f.srv.Addr, Token: f.srv.RootToken, Mount: "not-mounted"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyKey(ctx(t), newID(t)); !errors.Is(err, vault.ErrInvalid) {
		t.Fatalf("DestroyKey on a missing mount = %v, want ErrInvalid", err)
	}
}
