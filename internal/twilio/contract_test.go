package twilio_test

// Contract tests against Twilio's own OpenAPI description of the 2010-04-01
// API, with Stoplight Prism (scripts/deps-prism.sh installs it):
//
//   - TestContractEmulatorThroughPrismProxy drives the adapter against the
//     emulator through `prism proxy`, which checks every request the
//     adapter sends and every response the emulator gives.
//   - TestContractAdapterAgainstTwilioExamples drives the adapter against
//     `prism mock`, which answers with the description's own examples and
//     refuses requests that break it.
//
// Outside CI they skip when Prism or the description is missing; under
// CI=true they fail.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twilio/emulator"
	"github.com/textkit/customers/internal/twilio/twiliotest"
)

// seen is one response that came back through Prism.
type seen struct {
	method, path string
	status       int
	violations   []twiliotest.Violation
	body         map[string]any
}

// prismLog is a Transport that keeps what Prism said of each exchange.
type prismLog struct {
	mu    sync.Mutex
	items []seen
}

func (l *prismLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	s := seen{method: req.Method, path: req.URL.Path, status: resp.StatusCode}
	s.violations, err = twiliotest.Violations(resp.Header)
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(raw, &s.body) // the checks below say what a missing body means
	l.mu.Lock()
	l.items = append(l.items, s)
	l.mu.Unlock()
	return resp, nil
}

func (l *prismLog) all() []seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seen(nil), l.items...)
}

var sidInPath = regexp.MustCompile(`AC[0-9a-fA-F]{32}`)

// route names an exchange by method, path with the SID elided, and status.
func (s seen) route() string {
	return fmt.Sprintf("%s %s %d", s.method, sidInPath.ReplaceAllString(s.path, "{Sid}"), s.status)
}

// uriFormatQuirk reports whether v is the one known disagreement between
// Twilio's description and Twilio itself: the description gives a list
// page's URIs `format: uri` (absolute), while Twilio answers with
// references relative to https://api.twilio.com, and so do the
// description's own examples (TestContractAdapterAgainstTwilioExamples
// shows Prism flagging them).
func uriFormatQuirk(v twiliotest.Violation, body map[string]any) bool {
	if v.Severity != "Error" || fmt.Sprint(v.Code) != "format" || len(v.Location) != 3 ||
		v.Location[0] != "response" || v.Location[1] != "body" {
		return false
	}
	switch v.Location[2] {
	case "uri", "first_page_uri", "next_page_uri", "previous_page_uri":
		s, _ := body[v.Location[2]].(string)
		return strings.HasPrefix(s, "/2010-04-01/Accounts.json?")
	}
	return false
}

// undocumentedError reports whether v is Prism noting that the description
// documents no error responses at all, for a response that is one.
func undocumentedError(v twiliotest.Violation, s seen) bool {
	return v.Severity == "Warning" && v.Where() == "response" && s.status >= 400 &&
		strings.HasPrefix(v.Message, "Unable to match the returned status code")
}

// checkTwilioError checks an error body against Twilio's error format,
// which the description leaves out.
func checkTwilioError(t *testing.T, s seen) {
	t.Helper()
	code, _ := s.body["code"].(float64)
	status, _ := s.body["status"].(float64)
	msg, _ := s.body["message"].(string)
	more, _ := s.body["more_info"].(string)
	if code < 10000 || int(status) != s.status || msg == "" || more != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", int(code)) {
		t.Errorf("%s: body %v is not Twilio's error format", s.route(), s.body)
	}
}

func TestContractEmulatorThroughPrismProxy(t *testing.T) {
	spec := twiliotest.SpecPath(t)
	emu := twiliotest.NewServer(t, emulator.Config{})
	prism := twiliotest.StartPrismProxy(t, spec, emu.URL)
	log := &prismLog{}
	cfg := twilio.Config{AccountSID: emu.AccountSID(), AuthToken: emu.AuthToken(), BaseURL: prism.URL, Transport: log}
	c, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Checked when the test ends, however it ends.
	t.Cleanup(func() {
		// What passed through Prism: no breach of the description but the
		// two kinds explained above, and (when the test ran to its end)
		// every route.
		ranToEnd := !t.Failed()
		routes := map[string]int{}
		for _, s := range log.all() {
			routes[s.route()]++
			for _, v := range s.violations {
				switch {
				case uriFormatQuirk(v, s.body):
				case undocumentedError(v, s):
				default:
					t.Errorf("%s: %s %s: %s", s.route(), v.Severity, v.Where(), v.Message)
				}
			}
			if s.status >= 400 {
				checkTwilioError(t, s)
			}
		}
		for _, want := range []string{
			"GET /2010-04-01/Accounts.json 200",
			"POST /2010-04-01/Accounts.json 201",
			"GET /2010-04-01/Accounts/{Sid}.json 200",
			"POST /2010-04-01/Accounts/{Sid}.json 200",
			"GET /2010-04-01/Accounts/{Sid}.json 404",
			"GET /2010-04-01/Accounts/{Sid}.json 401",
			"GET /2010-04-01/Accounts/{Sid}.json 429",
			"GET /2010-04-01/Accounts.json 503",
			"POST /2010-04-01/Accounts/{Sid}.json 400",
		} {
			if ranToEnd && routes[want] == 0 {
				t.Errorf("no %s passed through Prism", want)
			}
		}
		if t.Failed() {
			keys := make([]string, 0, len(routes))
			for k := range routes {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.Logf("routes seen: %v", keys)
		}
	})

	ctx := context.Background()
	must := func(a twilio.Account, err error) twilio.Account {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	// The customer lifecycle, as the provisioner drives it.
	if _, ok, err := c.FindSubaccount(ctx, customerID); err != nil || ok {
		t.Fatalf("FindSubaccount: %v %v", ok, err)
	}
	a := must(c.EnsureSubaccount(ctx, customerID))
	if a.Created.IsZero() || a.Updated.IsZero() || a.Status != twilio.StatusActive {
		t.Errorf("the adapter cannot read the emulator's account: %+v", a) // Prism does not check RFC 2822 dates
	}
	if again := must(c.EnsureSubaccount(ctx, customerID)); again.SID != a.SID || emu.Count(emulator.OpCreate) != 1 {
		t.Errorf("second EnsureSubaccount gave %s after %d creates; want %s after 1", again.SID, emu.Count(emulator.OpCreate), a.SID)
	}
	must(c.Suspend(ctx, a.SID))
	if got := must(c.Fetch(ctx, a.SID)); got.Status != twilio.StatusSuspended {
		t.Errorf("Fetch after Suspend: %+v", got)
	}
	must(c.Reopen(ctx, a.SID))
	must(c.Close(ctx, a.SID))
	must(c.Close(ctx, a.SID))
	if _, err := c.Suspend(ctx, a.SID); !errors.Is(err, twilio.ErrClosed) {
		t.Errorf("Suspend closed: %v", err)
	}

	// Lists of more than one page (next_page_uri with a PageToken).
	other := "0b7e4c2a-5d1f-4e8a-9c3b-2f6d8e1a7b90"
	for range 51 {
		createDirect(t, emu, twilio.SubaccountName(other))
	}
	if _, ok, err := c.FindSubaccount(ctx, other); err != nil || !ok {
		t.Fatalf("FindSubaccount over two pages: %v %v", ok, err)
	}

	// Failures: unknown account, refused credentials, rate limit, outage,
	// and a closed account's status (sent raw as well as by Suspend above).
	if _, err := c.Fetch(ctx, emulator.NewSID()); !errors.Is(err, twilio.ErrNotFound) {
		t.Errorf("Fetch unknown: %v", err)
	}
	badCfg := cfg
	badCfg.AuthToken = "wrong"
	bad, _ := twilio.New(badCfg)
	if _, err := bad.Fetch(ctx, a.SID); !errors.Is(err, twilio.ErrUnauthorized) {
		t.Errorf("Fetch with a wrong token: %v", err)
	}
	for _, f := range []emulator.Fault{{Op: emulator.OpFetch, Status: 429, RetryAfter: 1}, {Op: emulator.OpList, Status: 503}} {
		if err := emu.Inject(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Fetch(ctx, a.SID); !twilio.IsTransient(err) {
		t.Errorf("Fetch when rate limited: %v", err)
	}
	if _, _, err := c.FindSubaccount(ctx, customerID); !twilio.IsTransient(err) {
		t.Errorf("FindSubaccount in an outage: %v", err)
	}
	rawUpdate(t, prism.URL, log, cfg, a.SID, url.Values{"Status": {"active"}}, http.StatusBadRequest)

}

// rawUpdate sends an update the adapter would not send, through Prism and
// the log, and checks its status.
func rawUpdate(t *testing.T, base string, log *prismLog, cfg twilio.Config, sid string, form url.Values, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/2010-04-01/Accounts/"+sid+".json", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cfg.AccountSID, cfg.AuthToken)
	resp, err := (&http.Client{Transport: log, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("POST %v to %s: %d, want %d", form, sid, resp.StatusCode, want)
	}
}

func TestContractAdapterAgainstTwilioExamples(t *testing.T) {
	spec := twiliotest.SpecPath(t)
	prism := twiliotest.StartPrismMock(t, spec)
	log := &prismLog{}
	const exampleSID = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // the examples' account
	cfg := twilio.Config{AccountSID: "AC" + strings.Repeat("b", 32), AuthToken: "token", BaseURL: prism.URL, Transport: log}
	c, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Prism answers a request that breaks the description with 422, so
	// each call succeeding shows the adapter's requests are well-formed.
	a, err := c.EnsureSubaccount(ctx, customerID)
	if err != nil {
		t.Fatalf("EnsureSubaccount: %v\n%s", err, prism.Output())
	}
	want := twilio.Account{
		SID: exampleSID, OwnerSID: exampleSID, FriendlyName: "friendly_name", Status: twilio.StatusActive,
		Created: time.Date(2015, 7, 30, 20, 0, 0, 0, time.UTC), Updated: time.Date(2015, 7, 30, 20, 0, 0, 0, time.UTC),
	}
	if a != want {
		t.Errorf("from the create example: %+v\nwant %+v", a, want)
	}
	for name, do := range map[string]func(context.Context, string) (twilio.Account, error){
		"Fetch": c.Fetch, "Suspend": c.Suspend, "Close": c.Close,
	} {
		if got, err := do(ctx, exampleSID); err != nil || got.SID != exampleSID {
			t.Errorf("%s: %+v %v", name, got, err)
		}
	}

	// Prism does check: a request outside the description is refused.
	rawUpdate(t, prism.URL, log, cfg, exampleSID, url.Values{"Status": {"reopened"}}, http.StatusUnprocessableEntity)

	routes := map[string]bool{}
	var quirks []string
	for _, s := range log.all() {
		routes[s.route()] = true
		for _, v := range s.violations {
			switch {
			case v.Location[0] == "request" && s.status == http.StatusUnprocessableEntity:
				// the refused request above
			case uriFormatQuirk(v, s.body):
				quirks = append(quirks, v.Location[2])
			default:
				t.Errorf("%s: %s %s: %s", s.route(), v.Severity, v.Where(), v.Message)
			}
		}
	}
	for _, want := range []string{
		"GET /2010-04-01/Accounts.json 200", "POST /2010-04-01/Accounts.json 201",
		"GET /2010-04-01/Accounts/{Sid}.json 200", "POST /2010-04-01/Accounts/{Sid}.json 200",
		"POST /2010-04-01/Accounts/{Sid}.json 422",
	} {
		if !routes[want] {
			t.Errorf("no %s from Prism", want)
		}
	}
	// Twilio's own list example has the relative URIs that the proxy test
	// lets pass: the quirk is the description's, not the emulator's.
	sort.Strings(quirks)
	if got := strings.Join(quirks, ","); !strings.HasPrefix(got, "first_page_uri,first_page_uri,uri,uri") {
		t.Errorf("Twilio's list example drew format violations on %q; want first_page_uri and uri on both lists", got)
	}
}
