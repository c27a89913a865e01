package provisioner_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twilio/emulator"
)

// mustRegistered checks that id is REGISTERED at version 1 with exactly one
// open sub-account named after it, and returns that sub-account.
func (h *harness) mustRegistered(t *testing.T, id string, out *command.Outcome) emulator.Account {
	t.Helper()
	mustApplied(t, out)
	if out.CustomerVersion != 1 {
		t.Fatalf("register: version %d, want 1", out.CustomerVersion)
	}
	subs := h.twilio.Subaccounts(twilio.SubaccountName(id))
	if len(subs) != 1 {
		t.Fatalf("%d sub-accounts named %s, want exactly 1: %+v", len(subs), twilio.SubaccountName(id), subs)
	}
	if subs[0].Status != emulator.StatusActive {
		t.Fatalf("sub-account %s is %s, want active", subs[0].SID, subs[0].Status)
	}
	c, err := h.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status() != customer.StatusRegistered || c.Version() != 1 || c.TwilioSID() != subs[0].SID {
		t.Fatalf("stored %s v%d with sub-account %q, want REGISTERED v1 with %s", c.Status(), c.Version(), c.TwilioSID(), subs[0].SID)
	}
	hist, err := h.store.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Version != 1 || hist[0].Event != command.Registered {
		t.Fatalf("history %+v, want one customer.registered at version 1", hist)
	}
	return subs[0]
}

// A replica dies right after Twilio created the sub-account, before the
// customer is written: the account exists, Redis knows nothing, the
// command is neither acked nor nacked. The next replica gets it redelivered
// and finds the account by its name instead of making a second one.
func TestCrashBetweenTwilioCreateAndRedisWrite(t *testing.T) {
	t.Parallel() // mostly waiting: the ack wait and redelivery
	h := newHarness(t)
	ctx := context.Background()
	dying := &dyingTwilio{created: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(dying.release) })
	stop := h.start(t, func(cfg *provisioner.Config) {
		dying.Subaccounts = cfg.Twilio
		cfg.Twilio = dying
	})
	id := uuid.NewString()
	reg := registerCmd(id, "crashed")
	h.publish(reg)
	<-dying.created
	stop() // the replica never gets past the create: nothing to drain
	// Crashed in between: Twilio has the account, Redis knows nothing.
	if n := len(h.twilio.Subaccounts(twilio.SubaccountName(id))); n != 1 {
		t.Fatalf("%d sub-accounts after the crash, want the 1 the dead replica made", n)
	}
	if _, err := h.store.Get(ctx, id); customer.ErrorCode(err) != customer.CodeNotFound {
		t.Fatalf("customer after the crash: %v, want not found", err)
	}
	if o, err := h.store.Outcome(ctx, reg.PartnerID, id, reg.ID); o != nil || err != nil {
		t.Fatalf("outcome after the crash: %+v %v, want none", o, err)
	}
	if o := h.published(reg.ID); o != nil {
		t.Fatalf("outcome published by the dead replica: %+v", o)
	}

	h.start(t)
	acct := h.mustRegistered(t, id, h.outcome(reg.ID))
	if n := h.twilio.Count(emulator.OpCreate); n != 1 {
		t.Fatalf("%d creates, want 1: the new replica should have found %s by listing", n, acct.SID)
	}
	if ev := h.eventsOf(id); len(ev) > 1 {
		t.Fatalf("%d events for one registration", len(ev))
	}
}

// dyingTwilio lets the first sub-account creation through to Twilio and
// then never returns (until the test ends), as a process that died right
// after the call would.
type dyingTwilio struct {
	provisioner.Subaccounts
	created, release chan struct{}
	once             sync.Once
}

func (d *dyingTwilio) EnsureSubaccount(ctx context.Context, customerID string) (twilio.Account, error) {
	acct, err := d.Subaccounts.EnsureSubaccount(ctx, customerID)
	if err != nil {
		return acct, err
	}
	d.once.Do(func() { close(d.created) })
	<-d.release
	return twilio.Account{}, errors.New("the replica died")
}

// Twilio makes the sub-account but the answer never arrives (a 500 after
// the fact, or a dropped connection). The retry finds the account by its
// name: one sub-account, one registration.
func TestLostCreateResponseMakesNoSecondSubaccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t)
	for _, f := range []emulator.Fault{
		{Op: emulator.OpCreate, Status: 500, AfterApply: true},
		{Op: emulator.OpCreate, Status: 503, AfterApply: true, Delay: 200 * time.Millisecond},
		{Op: emulator.OpCreate, Drop: true, AfterApply: true},
	} {
		t.Run(fmt.Sprintf("status %d drop %v", f.Status, f.Drop), func(t *testing.T) {
			before := h.twilio.Count(emulator.OpCreate)
			if err := h.twilio.Inject(f); err != nil {
				t.Fatal(err)
			}
			id := uuid.NewString()
			h.mustRegistered(t, id, h.send(registerCmd(id, "lost-"+id[:8])))
			if n := h.twilio.Count(emulator.OpCreate) - before; n != 1 {
				t.Fatalf("%d creates, want 1", n)
			}
			if p := h.twilio.PendingFaults(); p != 0 {
				t.Fatalf("%d faults left", p)
			}
		})
	}
}

// requestsSince returns the emulator's requests from index from on.
func (h *harness) requestsSince(from int) []emulator.Request {
	return h.twilio.Requests()[from:]
}

// Storms of 429s and 5xx on create and on update: every command still
// ends APPLIED, with one sub-account per customer in the right status.
// Each storm has a stack of its own (faults are the emulator's), and they
// run in parallel, since they mostly wait out backoffs.
func TestTwilioStormsStillApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := func(t *testing.T) *harness {
		t.Parallel()
		h := newHarness(t)
		h.start(t)
		return h
	}

	t.Run("429 on create", func(t *testing.T) {
		h := stack(t)
		from := len(h.twilio.Requests())
		// No Retry-After, to keep the test fast (TestTwilioRetryAfterIsHonoured checks it).
		if err := h.twilio.Inject(emulator.Fault{Op: emulator.OpCreate, Status: 429, Times: 20}); err != nil {
			t.Fatal(err)
		}
		id := uuid.NewString()
		h.mustRegistered(t, id, h.send(registerCmd(id, "storm-429")))
		var refused, created int
		for _, r := range h.requestsSince(from) {
			if r.Op == emulator.OpCreate {
				switch r.Status {
				case 429:
					refused++
				case 201, 200:
					created++
				default:
					t.Fatalf("create answered %d", r.Status)
				}
			}
		}
		if refused != 20 || created != 1 {
			t.Fatalf("%d creates refused, %d made; want 20 and 1", refused, created)
		}
	})

	t.Run("500 and 503 on create", func(t *testing.T) {
		h := stack(t)
		from := len(h.twilio.Requests())
		for _, f := range []emulator.Fault{
			{Op: emulator.OpCreate, Status: 500, Times: 4},
			{Op: emulator.OpCreate, Status: 503, Times: 4},
			{Op: emulator.OpCreate, Status: 500, AfterApply: true}, // made, then failed
		} {
			if err := h.twilio.Inject(f); err != nil {
				t.Fatal(err)
			}
		}
		id := uuid.NewString()
		h.mustRegistered(t, id, h.send(registerCmd(id, "storm-5xx")))
		// A 5xx on create reconciles by listing before creating again: every
		// create is preceded by a list, and after the create that was made
		// there is no other.
		reqs := h.requestsSince(from)
		var creates int
		listed := false
		for _, r := range reqs {
			switch r.Op {
			case emulator.OpList:
				listed = true
			case emulator.OpCreate:
				if !listed {
					t.Fatalf("create without a list before it: %+v", reqs)
				}
				listed = false
				creates++
			}
		}
		if creates != 9 {
			t.Fatalf("%d creates, want 9 (8 refused, 1 made whose answer was lost)", creates)
		}
	})

	t.Run("5xx and 429 on update", func(t *testing.T) {
		h := stack(t)
		id := uuid.NewString()
		h.mustRegistered(t, id, h.send(registerCmd(id, "storm-update")))
		mustApplied(t, h.send(newCmd(command.Activate, id, nil)))
		c, err := h.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sid := c.TwilioSID()
		steps := []struct {
			cmd     command.Type
			faults  []emulator.Fault
			twilio  emulator.Status
			status  customer.Status
			version int64
			updated int // updates answered 200
		}{
			{command.Deactivate, []emulator.Fault{
				{Op: emulator.OpUpdate, Status: 503, Times: 4},
				{Op: emulator.OpUpdate, Status: 500, Times: 3},
				{Op: emulator.OpUpdate, Status: 429, Times: 3},
			}, emulator.StatusSuspended, customer.StatusDeactivated, 3, 1},
			{command.Activate, []emulator.Fault{
				{Op: emulator.OpUpdate, Status: 502, Times: 3},
				{Op: emulator.OpUpdate, Status: 500, AfterApply: true}, // reopened, then failed
			}, emulator.StatusActive, customer.StatusActive, 4, 1}, // the lost answer's update made the change; the retry's (no read before it) changes nothing
		}
		for _, s := range steps {
			from := len(h.twilio.Requests())
			for _, f := range s.faults {
				if err := h.twilio.Inject(f); err != nil {
					t.Fatal(err)
				}
			}
			o := h.send(newCmd(s.cmd, id, nil))
			mustApplied(t, o)
			if o.CustomerVersion != s.version {
				t.Fatalf("%s: version %d, want %d", s.cmd, o.CustomerVersion, s.version)
			}
			c, _ := h.store.Get(ctx, id)
			acct, _ := h.twilio.Account(sid)
			if c.Status() != s.status || c.Version() != s.version || acct.Status != s.twilio {
				t.Fatalf("after %s: %s v%d, Twilio %s; want %s v%d, Twilio %s", s.cmd, c.Status(), c.Version(), acct.Status, s.status, s.version, s.twilio)
			}
			if p := h.twilio.PendingFaults(); p != 0 {
				t.Fatalf("%d faults left", p)
			}
			var updated int
			for _, r := range h.requestsSince(from) {
				if r.Op == emulator.OpUpdate && r.Status == http.StatusOK {
					updated++
				}
				if r.Op == emulator.OpCreate {
					t.Fatalf("%s created an account: %+v", s.cmd, r)
				}
			}
			if updated != s.updated {
				t.Fatalf("%s: %d successful updates, want %d", s.cmd, updated, s.updated)
			}
		}
		if subs := h.twilio.Subaccounts(twilio.SubaccountName(id)); len(subs) != 1 {
			t.Fatalf("%d sub-accounts, want 1", len(subs))
		}
		hist, _ := h.store.History(ctx, id)
		if len(hist) != 4 {
			t.Fatalf("history %+v, want 4 entries", hist)
		}
	})
}

// stampedRequest is one request as it reached the emulator.
type stampedRequest struct {
	method, path      string
	status            int
	retryAfter        time.Duration
	arrived, answered time.Time
}

// stamper sits in front of the emulator, in the emulator's process and
// next to it on the wire, and records when each request arrived and when
// its answer left: the emulator itself keeps no times.
type stamper struct {
	next http.Handler
	mu   sync.Mutex
	reqs []stampedRequest
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *stamper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := stampedRequest{method: r.Method, path: r.URL.Path, arrived: time.Now()}
	sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.next.ServeHTTP(sw, r)
	rec.answered, rec.status = time.Now(), sw.status
	if ra, err := strconv.Atoi(sw.Header().Get("Retry-After")); err == nil {
		rec.retryAfter = time.Duration(ra) * time.Second
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
}

func (s *stamper) requests() []stampedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stampedRequest(nil), s.reqs...)
}

// A 429 with Retry-After: the next request to Twilio comes no earlier
// than Twilio asked. Times are taken where the emulator receives and
// answers, so a slow machine can only make the gap longer.
func TestTwilioRetryAfterIsHonoured(t *testing.T) {
	h := newHarness(t)
	st := &stamper{next: h.twilio.Handler()}
	front := httptest.NewServer(st)
	t.Cleanup(front.Close)
	h.start(t, func(cfg *provisioner.Config) {
		tw, err := twilio.New(twilio.Config{AccountSID: h.twilio.AccountSID(), AuthToken: h.twilio.AuthToken(), BaseURL: front.URL, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Twilio = tw
	})
	if err := h.twilio.Inject(emulator.Fault{Op: emulator.OpCreate, Status: 429, RetryAfter: 1, Times: 2}); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	h.mustRegistered(t, id, h.send(registerCmd(id, "patient")))
	reqs := st.requests()
	var limited int
	for i, r := range reqs {
		if r.status != http.StatusTooManyRequests {
			continue
		}
		limited++
		if r.retryAfter != time.Second {
			t.Fatalf("429 carried Retry-After %v, want 1s", r.retryAfter)
		}
		if i+1 == len(reqs) {
			t.Fatalf("nothing after the 429: %+v", reqs)
		}
		next := reqs[i+1]
		if gap := next.arrived.Sub(r.answered); gap < r.retryAfter {
			t.Errorf("%s %s came %v after a 429 with Retry-After %v", next.method, next.path, gap.Round(time.Millisecond), r.retryAfter)
		}
	}
	if limited != 2 {
		t.Fatalf("%d requests limited, want 2", limited)
	}
}
