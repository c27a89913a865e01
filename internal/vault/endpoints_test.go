package vault_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/vault"
)

// recorder is a proxy in front of Vault that notes every call it passes.
type recorder struct {
	mu    sync.Mutex
	calls []vault.Endpoint
}

var keyName = regexp.MustCompile(`customer-[0-9a-f-]{36}`)

func (r *recorder) take() []vault.Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// client returns an adapter with token that talks to Vault through r.
func (r *recorder) client(t *testing.T, f *fixture, token string) *vault.Client {
	t.Helper()
	target, err := url.Parse(f.srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		capability := map[string]string{http.MethodGet: "read", http.MethodDelete: "delete", "LIST": "list"}[req.Method]
		if req.Method == http.MethodPost || req.Method == http.MethodPut {
			capability = "update" // or create: the table names both where it matters
		}
		path := keyName.ReplaceAllString(strings.TrimPrefix(req.URL.Path, "/v1/"), "customer-*")
		r.mu.Lock()
		r.calls = append(r.calls, vault.Endpoint{Path: path, Capability: capability})
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	c, err := vault.New(vault.Config{Addr: srv.URL, Token: token, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEndpointsTableMatchesTheCalls runs every method in vault.Endpoints
// against the real Vault through a recording proxy, on the paths where it
// does the most (a 403 that makes Encrypt check the key, a destroy that
// confirms), and checks the table lists exactly the calls made.
func TestEndpointsTableMatchesTheCalls(t *testing.T) {
	f := shared(t)
	rec := &recorder{}
	root := rec.client(t, f, f.srv.RootToken)
	svc := rec.client(t, f, f.tokens.Provisioner)
	id := newID(t)
	if err := f.retention.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	ct, err := f.root.Encrypt(ctx(t), id, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	run := map[string]func(context.Context) error{
		"Encrypt": func(ctx context.Context) error {
			_, err := svc.Encrypt(ctx, newID(t), []byte("x")) // missing key: 403, then a read
			_, err2 := svc.Encrypt(ctx, id, []byte("x"))
			return okOr(err, vault.ErrKeyNotFound, err2)
		},
		"EncryptBatch": func(ctx context.Context) error {
			_, err := svc.EncryptBatch(ctx, newID(t), [][]byte{[]byte("x")})
			_, err2 := svc.EncryptBatch(ctx, id, [][]byte{[]byte("x")})
			return okOr(err, vault.ErrKeyNotFound, err2)
		},
		"Decrypt": func(ctx context.Context) error {
			_, err := root.Decrypt(ctx, id, ct)
			return err
		},
		"DecryptBatch": func(ctx context.Context) error {
			_, err := root.DecryptBatch(ctx, id, []string{ct})
			return err
		},
		"KeyStatus": func(ctx context.Context) error {
			_, err := svc.KeyStatus(ctx, id)
			return err
		},
		"CreateKey": func(ctx context.Context) error {
			return root.CreateKey(ctx, newID(t))
		},
		"DestroyKey": func(ctx context.Context) error {
			other := newID(t)
			if err := f.retention.CreateKey(ctx, other); err != nil {
				return err
			}
			return root.DestroyKey(ctx, other)
		},
		"RenewToken": func(ctx context.Context) error {
			_, err := svc.RenewToken(ctx)
			return err
		},
		"KeepTokenAlive": func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
			defer cancel()
			svc.KeepTokenAlive(ctx, 50*time.Millisecond, func(err error) { t.Errorf("renew: %v", err) })
			return nil
		},
		"CheckToken": func(ctx context.Context) error {
			_, err := svc.CheckToken(ctx)
			return err
		},
	}
	for method, want := range vault.Endpoints {
		t.Run(method, func(t *testing.T) {
			f, ok := run[method]
			if !ok {
				t.Fatalf("no exercise for %s: add one", method)
			}
			rec.take()
			if err := f(ctx(t)); err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			got := rec.take()
			if len(got) == 0 {
				t.Fatalf("%s made no call", method)
			}
			for _, call := range got {
				listed := slices.ContainsFunc(want, func(e vault.Endpoint) bool {
					return e.Path == call.Path && (e.Capability == call.Capability || (call.Capability == "update" && e.Capability == "create"))
				})
				if !listed {
					t.Errorf("%s called %s (%s), which vault.Endpoints does not list", method, call.Path, call.Capability)
				}
			}
			for _, e := range want {
				made := slices.ContainsFunc(got, func(call vault.Endpoint) bool {
					return e.Path == call.Path && (e.Capability == call.Capability || (call.Capability == "update" && e.Capability == "create"))
				})
				if !made {
					t.Errorf("vault.Endpoints lists %s (%s) for %s, which it never called", e.Path, e.Capability, method)
				}
			}
		})
	}
}

// okOr returns nil when err is want (or nil) and then ok is nil.
func okOr(err, want, ok error) error {
	if err != nil && !errors.Is(err, want) {
		return err
	}
	return ok
}
