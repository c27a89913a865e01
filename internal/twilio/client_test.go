package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twilio/emulator"
	"github.com/textkit/customers/internal/twilio/twiliotest"
)

const customerID = "e4c81004-1a4c-477f-97e3-b67022e9a351"

func newClient(t *testing.T, s *twiliotest.Server, tweak ...func(*twilio.Config)) *twilio.Client {
	t.Helper()
	cfg := twilio.Config{AccountSID: s.AccountSID(), AuthToken: s.AuthToken(), BaseURL: s.URL}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ticking returns a clock that moves one second per reading, so that every
// account gets its own creation time.
func ticking() func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)

	if _, ok, err := c.FindSubaccount(ctx, customerID); err != nil || ok {
		t.Fatalf("FindSubaccount before: ok=%v err=%v", ok, err)
	}
	a, err := c.EnsureSubaccount(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}
	if a.FriendlyName != twilio.SubaccountName(customerID) || a.OwnerSID != s.AccountSID() ||
		a.Status != twilio.StatusActive || a.Created.IsZero() || a.Created != a.Updated {
		t.Errorf("created %+v", a)
	}
	again, err := c.EnsureSubaccount(ctx, customerID)
	if err != nil || again != a {
		t.Errorf("second EnsureSubaccount = %+v, %v; want %+v", again, err, a)
	}
	if n := s.Count(emulator.OpCreate); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	if found, ok, err := c.FindSubaccount(ctx, customerID); err != nil || !ok || found != a {
		t.Errorf("FindSubaccount = %+v %v %v", found, ok, err)
	}

	steps := []struct {
		name string
		do   func(context.Context, string) (twilio.Account, error)
		want twilio.Status
	}{
		{"suspend", c.Suspend, twilio.StatusSuspended},
		{"suspend again", c.Suspend, twilio.StatusSuspended},
		{"reopen", c.Reopen, twilio.StatusActive},
		{"reopen again", c.Reopen, twilio.StatusActive},
		{"close", c.Close, twilio.StatusClosed},
		{"close again", c.Close, twilio.StatusClosed},
	}
	for _, st := range steps {
		got, err := st.do(ctx, a.SID)
		if err != nil || got.Status != st.want || got.SID != a.SID {
			t.Fatalf("%s: %+v, %v", st.name, got, err)
		}
		if emu, _ := s.Account(a.SID); string(emu.Status) != string(st.want) {
			t.Fatalf("%s: emulator holds %s", st.name, emu.Status)
		}
	}
	// One update per call and no read before it: the caller knows the
	// account; a repeated call is an update to the status it has.
	if n, f := s.Count(emulator.OpUpdate), s.Count(emulator.OpFetch); n != len(steps) || f != 0 {
		t.Errorf("%d updates and %d fetches, want %d and 0", n, f, len(steps))
	}

	for name, do := range map[string]func(context.Context, string) (twilio.Account, error){"suspend": c.Suspend, "reopen": c.Reopen} {
		if _, err := do(ctx, a.SID); !errors.Is(err, twilio.ErrClosed) || twilio.IsTransient(err) {
			t.Errorf("%s closed account: %v", name, err)
		}
	}
	if got, err := c.Fetch(ctx, a.SID); err != nil || got.Status != twilio.StatusClosed {
		t.Errorf("Fetch closed: %+v %v", got, err)
	}
}

func TestEnsureFindsTheAccountOfALostResponse(t *testing.T) {
	ctx := context.Background()
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)

	if err := s.Inject(emulator.Fault{Op: emulator.OpCreate, Status: 502, AfterApply: true}); err != nil {
		t.Fatal(err)
	}
	_, err := c.EnsureSubaccount(ctx, customerID)
	if !twilio.IsTransient(err) {
		t.Fatalf("lost response: %v, want a transient error", err)
	}
	a, err := c.EnsureSubaccount(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}
	subs := s.Subaccounts(twilio.SubaccountName(customerID))
	if len(subs) != 1 || subs[0].SID != a.SID {
		t.Errorf("sub-accounts %+v, want just %s", subs, a.SID)
	}
}

func TestEnsureFindsTheAccountOfATimedOutCreate(t *testing.T) {
	ctx := context.Background()
	s := twiliotest.NewServer(t, emulator.Config{})
	// The look-up before the create must fit in the timeout on a loaded
	// machine; only the create is held past it.
	c := newClient(t, s, func(cfg *twilio.Config) { cfg.Timeout = time.Second })

	if err := s.Inject(emulator.Fault{Op: emulator.OpCreate, Delay: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	_, err := c.EnsureSubaccount(ctx, customerID)
	var te *twilio.Error
	if !twilio.IsTransient(err) || !errors.As(err, &te) || te.Status != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out create: %v, want a transient error without a status", err)
	}
	// Twilio finishes the create although we stopped waiting.
	testenv.Eventually(t, 10*time.Second, func() error {
		if len(s.Subaccounts(twilio.SubaccountName(customerID))) == 0 {
			return errors.New("the delayed create never happened")
		}
		return nil
	})
	a, err := c.EnsureSubaccount(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Count(emulator.OpCreate); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	if subs := s.Subaccounts(twilio.SubaccountName(customerID)); len(subs) != 1 || subs[0].SID != a.SID {
		t.Errorf("sub-accounts %+v", subs)
	}
}

// rivalTransport creates a rival sub-account of the same name just before
// the first create passes through, as a second replica racing would.
type rivalTransport struct {
	once  sync.Once
	rival func()
}

func (r *rivalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/Accounts.json") {
		r.once.Do(r.rival)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestEnsureSettlesARaceOnTheOldestAccount(t *testing.T) {
	ctx := context.Background()
	s := twiliotest.NewServer(t, emulator.Config{Now: ticking()})
	other := newClient(t, s)
	var rivalSID string
	rt := &rivalTransport{rival: func() {
		// The rival does what EnsureSubaccount does, from its own client.
		a, err := other.EnsureSubaccount(ctx, customerID)
		if err != nil {
			t.Error(err)
		}
		rivalSID = a.SID
	}}
	c := newClient(t, s, func(cfg *twilio.Config) { cfg.Transport = rt })

	a, err := c.EnsureSubaccount(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}
	if a.SID != rivalSID {
		t.Errorf("settled on %s, want the older rival %s", a.SID, rivalSID)
	}
	var open []string
	subs := s.Subaccounts(twilio.SubaccountName(customerID))
	for _, sub := range subs {
		if sub.Status != emulator.StatusClosed {
			open = append(open, sub.SID)
		}
	}
	if len(subs) != 2 || len(open) != 1 || open[0] != rivalSID {
		t.Errorf("sub-accounts %+v: want the rival open and ours closed", subs)
	}
	if again, err := c.EnsureSubaccount(ctx, customerID); err != nil || again.SID != rivalSID {
		t.Errorf("EnsureSubaccount after the race: %+v %v", again, err)
	}
}

func TestFindPicksTheOldestAcrossPages(t *testing.T) {
	ctx := context.Background()
	// A clock running backwards: the last account made is the oldest, and
	// the list (in creation order) shows it on its second page.
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := twiliotest.NewServer(t, emulator.Config{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(-time.Second)
		return now
	}})
	c := newClient(t, s)
	name := twilio.SubaccountName(customerID)

	createDirect(t, s, name+"x") // a near miss
	for range 51 {               // duplicates made behind the adapter's back
		createDirect(t, s, name)
	}
	subs := s.Subaccounts(name)
	oldest := subs[len(subs)-1]

	got, ok, err := c.FindSubaccount(ctx, customerID)
	if err != nil || !ok || got.SID != oldest.SID {
		t.Errorf("FindSubaccount = %+v %v %v, want the oldest %s", got, ok, err, oldest.SID)
	}
	if n := s.Count(emulator.OpList); n != 2 {
		t.Errorf("%d list requests, want 2 pages", n)
	}
}

// createDirect creates a sub-account straight through the emulator's API.
func createDirect(t *testing.T, s *twiliotest.Server, name string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/2010-04-01/Accounts.json", strings.NewReader("FriendlyName="+name))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.AccountSID(), s.AuthToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create %q: %d", name, resp.StatusCode)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)
	a, err := c.EnsureSubaccount(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name       string
		fault      emulator.Fault
		kind       error
		status     int
		code       int
		retryAfter time.Duration
	}{
		{"rate limited", emulator.Fault{Status: 429, RetryAfter: 3}, twilio.ErrTransient, 429, 20429, 3 * time.Second},
		{"internal error", emulator.Fault{Status: 500}, twilio.ErrTransient, 500, 20500, 0},
		{"unavailable", emulator.Fault{Status: 503}, twilio.ErrTransient, 503, 20503, 0},
		{"timeout status", emulator.Fault{Status: 408}, twilio.ErrTransient, 408, 20408, 0},
		{"bad request", emulator.Fault{Status: 400, Code: 21212}, twilio.ErrRejected, 400, 21212, 0},
		{"forbidden", emulator.Fault{Status: 403, Code: 20403}, twilio.ErrUnauthorized, 403, 20403, 0},
		{"dropped", emulator.Fault{Drop: true, Times: 2}, twilio.ErrTransient, 0, 0, 0}, // Go retries a dropped GET once
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault.Op = emulator.OpFetch
			if err := s.Inject(tc.fault); err != nil {
				t.Fatal(err)
			}
			_, err := c.Fetch(ctx, a.SID)
			var te *twilio.Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *twilio.Error", err)
			}
			if !errors.Is(err, tc.kind) || te.Status != tc.status || te.Code != tc.code || te.RetryAfter != tc.retryAfter {
				t.Errorf("got %v (kind %v, status %d, code %d, retry after %v), want kind %v, status %d, code %d, retry after %v",
					err, te.Kind, te.Status, te.Code, te.RetryAfter, tc.kind, tc.status, tc.code, tc.retryAfter)
			}
			if s.PendingFaults() != 0 {
				t.Errorf("%d faults left", s.PendingFaults())
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		_, err := c.Fetch(ctx, emulator.NewSID())
		if !errors.Is(err, twilio.ErrNotFound) || twilio.IsTransient(err) {
			t.Errorf("got %v", err)
		}
		if _, err := c.Suspend(ctx, emulator.NewSID()); !errors.Is(err, twilio.ErrNotFound) || !strings.Contains(err.Error(), "suspend account") {
			t.Errorf("Suspend unknown: %v", err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		bad := newClient(t, s, func(cfg *twilio.Config) { cfg.AuthToken = "wrong" })
		_, err := bad.EnsureSubaccount(ctx, customerID)
		if !errors.Is(err, twilio.ErrUnauthorized) || twilio.IsTransient(err) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Fetch(cctx, a.SID)
		if !twilio.IsTransient(err) || !errors.Is(err, context.Canceled) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		dead := newClient(t, s, func(cfg *twilio.Config) { cfg.BaseURL = "http://" + addr })
		if _, err := dead.Fetch(ctx, a.SID); !twilio.IsTransient(err) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("proxy error page", func(t *testing.T) {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		}))
		defer proxy.Close()
		via := newClient(t, s, func(cfg *twilio.Config) { cfg.BaseURL = proxy.URL })
		_, err := via.Fetch(ctx, a.SID)
		var te *twilio.Error
		if !twilio.IsTransient(err) || !errors.As(err, &te) || te.Status != 502 {
			t.Errorf("got %v", err)
		}
	})
	t.Run("garbled success", func(t *testing.T) {
		garbled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"sid": "AC`))
		}))
		defer garbled.Close()
		via := newClient(t, s, func(cfg *twilio.Config) { cfg.BaseURL = garbled.URL })
		if _, err := via.Fetch(ctx, a.SID); !twilio.IsTransient(err) {
			t.Errorf("got %v", err)
		}
	})
}

func TestRefusesBadArgumentsWithoutCallingTwilio(t *testing.T) {
	ctx := context.Background()
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)
	calls := []struct {
		name string
		do   func() error
	}{
		{"empty customer", func() error { _, err := c.EnsureSubaccount(ctx, ""); return err }},
		{"dotted customer", func() error { _, err := c.EnsureSubaccount(ctx, "acme.1"); return err }},
		{"long customer", func() error { _, _, err := c.FindSubaccount(ctx, strings.Repeat("a", 48)); return err }},
		{"bad sid", func() error { _, err := c.Fetch(ctx, "AC../../Calls"); return err }},
		{"main account", func() error { _, err := c.Close(ctx, s.AccountSID()); return err }},
	}
	for _, call := range calls {
		if err := call.do(); !errors.Is(err, twilio.ErrRejected) || twilio.IsTransient(err) {
			t.Errorf("%s: %v", call.name, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests reached Twilio", n)
	}
	if _, _, err := c.FindSubaccount(ctx, strings.Repeat("a", 47)); err != nil {
		t.Errorf("the longest customer id: %v", err)
	}
}

func TestConfig(t *testing.T) {
	good := twilio.Config{AccountSID: emulator.NewSID(), AuthToken: "abc123"}
	if _, err := twilio.New(good); err != nil {
		t.Errorf("New(%+v): %v", good, err)
	}
	for _, tweak := range []func(*twilio.Config){
		func(c *twilio.Config) { c.AccountSID = "" },
		func(c *twilio.Config) { c.AccountSID = "AC" + strings.Repeat("g", 32) },
		func(c *twilio.Config) { c.AuthToken = "" },
		func(c *twilio.Config) { c.AuthToken = "a-b" },
		func(c *twilio.Config) { c.BaseURL = "api.twilio.com" },
		func(c *twilio.Config) { c.BaseURL = "ftp://x" },
		func(c *twilio.Config) { c.Timeout = -time.Second },
	} {
		cfg := good
		tweak(&cfg)
		if _, err := twilio.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestBaseURLWithAPathPrefix(t *testing.T) {
	e, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/twilio/", http.StripPrefix("/twilio", e))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := twilio.New(twilio.Config{AccountSID: e.AccountSID(), AuthToken: e.AuthToken(), BaseURL: srv.URL + "/twilio/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnsureSubaccount(context.Background(), customerID); err != nil {
		t.Fatal(err)
	}
}
