package vault

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// node is a fake Vault node that answers every request with status and
// body and counts what it got.
func node(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if status == http.StatusTemporaryRedirect {
			w.Header().Set("Location", "http://127.0.0.1:1"+r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s, &hits
}

// deadAddr is an address that refuses connections: a server, closed.
func deadAddr(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

// TestFailoverSkipsDeadSealedAndStandby: a refused connection, a sealed
// node and a standby without an active node are each skipped; the node
// that served is asked first next time.
func TestFailoverSkipsDeadSealedAndStandby(t *testing.T) {
	sealed, sealedHits := node(t, 503, `{"errors":["Vault is sealed"]}`)
	standby, standbyHits := node(t, 500, `{"errors":["local node not active but active cluster node not found"]}`)
	ok, okHits := node(t, 200, `{"data":{"keys":["customer-1"]}}`)
	c, err := New(Config{Addr: strings.Join([]string{deadAddr(t), sealed.URL, standby.URL, ok.URL}, ","), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		exists, err := c.KeyStatus(context.Background(), "1")
		if err != nil || !exists {
			t.Fatalf("call %d: KeyStatus = %v, %v; want true, nil", i, exists, err)
		}
	}
	if s, b, o := sealedHits.Load(), standbyHits.Load(), okHits.Load(); s != 1 || b != 1 || o != 3 {
		t.Errorf("hits sealed=%d standby=%d ok=%d; want 1, 1, 3 (failed-over nodes asked once)", s, b, o)
	}
}

// TestFailoverKeepsPermanentAnswers: a node's 4xx is its answer, not a
// reason to ask another node.
func TestFailoverKeepsPermanentAnswers(t *testing.T) {
	denied, _ := node(t, 403, `{"errors":["permission denied"]}`)
	other, otherHits := node(t, 200, `{"data":{}}`)
	c, err := New(Config{Addr: denied.URL + "," + other.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeyStatus(context.Background(), "1"); !errors.Is(err, ErrForbidden) {
		t.Errorf("KeyStatus = %v, want ErrForbidden", err)
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the second node was asked %d times after a 403, want 0", n)
	}
}

// TestFailoverAllUnavailable: when no node can serve (dead, redirecting
// standbys), the call fails transiently, never as an empty success.
func TestFailoverAllUnavailable(t *testing.T) {
	r1, _ := node(t, http.StatusTemporaryRedirect, "")
	r2, _ := node(t, http.StatusTemporaryRedirect, "")
	c, err := New(Config{Addr: strings.Join([]string{deadAddr(t), r1.URL, r2.URL}, ","), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Encrypt(context.Background(), "1", []byte("x"))
	if !errors.Is(err, ErrUnavailable) || !IsTransient(err) {
		t.Errorf("Encrypt = %v, want a transient ErrUnavailable", err)
	}
	all, err := New(Config{Addr: deadAddr(t) + "," + deadAddr(t), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := all.Health(context.Background()); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no other of the 2 nodes") {
		t.Errorf("Health of two dead nodes = %v, want ErrUnavailable naming both", err)
	}
}

func TestParseAddrs(t *testing.T) {
	for _, c := range []struct {
		in, want, wantErr string
	}{
		{"http://127.0.0.1:8200", "http://127.0.0.1:8200", ""},
		{" http://127.0.0.1:8200/ , https://127.0.0.1:8210", "http://127.0.0.1:8200|https://127.0.0.1:8210", ""},
		{"", "", "addr is required"},
		{"http://127.0.0.1:8200,", "", "empty entry"},
		{"http://127.0.0.1:8200,127.0.0.1:8210", "", "must be an http(s) URL"},
		{"http://127.0.0.1:8200,http://127.0.0.1:8200", "", "listed twice"},
		{"http://127.0.0.1:8200/v1", "", "must be an http(s) URL"},
	} {
		got, err := ParseAddrs(c.in)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("ParseAddrs(%q) error = %v, want %q", c.in, err, c.wantErr)
		case c.wantErr == "" && (err != nil || strings.Join(got, "|") != c.want):
			t.Errorf("ParseAddrs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
