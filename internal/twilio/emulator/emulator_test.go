package emulator_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/twilio/emulator"
	"github.com/textkit/customers/internal/twilio/twiliotest"
)

// client speaks raw HTTP to the emulator, as one account.
type client struct {
	t         *testing.T
	base      string
	sid, auth string
}

func newClient(t *testing.T, s *twiliotest.Server) *client {
	return &client{t: t, base: s.URL, sid: s.AccountSID(), auth: s.AuthToken()}
}

// do sends a request and decodes the JSON answer into a map.
func (c *client) do(method, path string, form url.Values) (int, http.Header, map[string]any) {
	c.t.Helper()
	var body io.Reader
	target := c.base + path
	if method == http.MethodGet && form != nil {
		target += "?" + form.Encode()
	} else if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.sid != "" {
		req.SetBasicAuth(c.sid, c.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func (c *client) create(name string) map[string]any {
	c.t.Helper()
	status, _, body := c.do(http.MethodPost, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {name}})
	if status != http.StatusCreated {
		c.t.Fatalf("create %q: status %d, body %v", name, status, body)
	}
	return body
}

func wantError(t *testing.T, gotStatus int, body map[string]any, wantStatus, wantCode int) {
	t.Helper()
	if gotStatus != wantStatus {
		t.Fatalf("status %d, want %d (body %v)", gotStatus, wantStatus, body)
	}
	if code, _ := body["code"].(float64); int(code) != wantCode {
		t.Errorf("code %v, want %d (body %v)", body["code"], wantCode, body)
	}
	if st, _ := body["status"].(float64); int(st) != wantStatus {
		t.Errorf("body status %v, want %d", body["status"], wantStatus)
	}
	if mi, _ := body["more_info"].(string); mi != "https://www.twilio.com/docs/errors/"+strconv.Itoa(wantCode) {
		t.Errorf("more_info %q", mi)
	}
}

func TestCreateFetchUpdate(t *testing.T) {
	now := time.Date(2026, 3, 4, 17, 5, 6, 0, time.UTC)
	s := twiliotest.NewServer(t, emulator.Config{Now: func() time.Time { return now }})
	c := newClient(t, s)

	acct := c.create("textkit-customer-1")
	sid, _ := acct["sid"].(string)
	want := map[string]any{
		"friendly_name": "textkit-customer-1", "owner_account_sid": s.AccountSID(), "status": "active",
		"type": "Full", "date_created": "Wed, 04 Mar 2026 17:05:06 +0000",
		"date_updated": "Wed, 04 Mar 2026 17:05:06 +0000", "uri": "/2010-04-01/Accounts/" + sid + ".json",
	}
	for k, v := range want {
		if acct[k] != v {
			t.Errorf("created %s = %v, want %v", k, acct[k], v)
		}
	}
	if len(sid) != 34 || !strings.HasPrefix(sid, "AC") {
		t.Errorf("sid %q", sid)
	}
	if tok, _ := acct["auth_token"].(string); len(tok) != 32 {
		t.Errorf("auth_token %q", tok)
	}
	uris, _ := acct["subresource_uris"].(map[string]any)
	if uris["calls"] != "/2010-04-01/Accounts/"+sid+"/Calls.json" || len(uris) != 20 {
		t.Errorf("subresource_uris %v", uris)
	}

	status, _, got := c.do(http.MethodGet, "/2010-04-01/Accounts/"+sid+".json", nil)
	if status != http.StatusOK || got["sid"] != sid {
		t.Fatalf("fetch: %d %v", status, got)
	}

	now = now.Add(time.Hour)
	for _, st := range []string{"suspended", "active", "closed"} {
		status, _, got = c.do(http.MethodPost, "/2010-04-01/Accounts/"+sid+".json", url.Values{"Status": {st}})
		if status != http.StatusOK || got["status"] != st {
			t.Fatalf("update to %s: %d %v", st, status, got)
		}
	}
	if got["date_updated"] != "Wed, 04 Mar 2026 18:05:06 +0000" || got["date_created"] != want["date_created"] {
		t.Errorf("dates after update: %v / %v", got["date_created"], got["date_updated"])
	}
	for _, st := range []string{"active", "suspended", "closed"} {
		status, _, got = c.do(http.MethodPost, "/2010-04-01/Accounts/"+sid+".json", url.Values{"Status": {st}})
		wantError(t, status, got, http.StatusBadRequest, 21479)
	}
	if a, _ := s.Account(sid); a.Status != emulator.StatusClosed {
		t.Errorf("closed account is %s", a.Status)
	}
	// Its name can still change; its status cannot.
	status, _, got = c.do(http.MethodPost, "/2010-04-01/Accounts/"+sid+".json", url.Values{"FriendlyName": {"renamed"}})
	if status != http.StatusOK || got["friendly_name"] != "renamed" || got["status"] != "closed" {
		t.Errorf("rename closed: %d %v", status, got)
	}
}

func TestCreateDefaultsAndLimits(t *testing.T) {
	now := time.Date(2026, 3, 4, 17, 5, 6, 0, time.UTC)
	s := twiliotest.NewServer(t, emulator.Config{Now: func() time.Time { return now }, Type: "Trial"})
	c := newClient(t, s)

	status, _, got := c.do(http.MethodPost, "/2010-04-01/Accounts.json", url.Values{})
	if status != http.StatusCreated || got["friendly_name"] != "SubAccount Created at 2026-03-04 05:05 pm" || got["type"] != "Trial" {
		t.Errorf("default create: %d %v", status, got)
	}
	status, _, got = c.do(http.MethodPost, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {strings.Repeat("x", 65)}})
	wantError(t, status, got, http.StatusBadRequest, 20001)
	c.create(strings.Repeat("é", 64)) // 64 characters, more bytes
}

func TestAuthAndVisibility(t *testing.T) {
	s := twiliotest.NewServer(t, emulator.Config{})
	main := newClient(t, s)
	sub := main.create("a")
	other := main.create("b")

	anon := &client{t: t, base: s.URL}
	status, hdr, got := anon.do(http.MethodGet, "/2010-04-01/Accounts.json", nil)
	wantError(t, status, got, http.StatusUnauthorized, 20003)
	if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
	}
	bad := &client{t: t, base: s.URL, sid: s.AccountSID(), auth: "wrong"}
	status, _, got = bad.do(http.MethodGet, "/2010-04-01/Accounts.json", nil)
	wantError(t, status, got, http.StatusUnauthorized, 20003)

	// A sub-account sees itself only and creates nothing.
	sc := &client{t: t, base: s.URL, sid: sub["sid"].(string), auth: sub["auth_token"].(string)}
	status, _, got = sc.do(http.MethodGet, "/2010-04-01/Accounts.json", nil)
	if accts, _ := got["accounts"].([]any); status != http.StatusOK || len(accts) != 1 || accts[0].(map[string]any)["sid"] != sc.sid {
		t.Errorf("sub-account list: %d %v", status, got)
	}
	status, _, got = sc.do(http.MethodGet, "/2010-04-01/Accounts/"+other["sid"].(string)+".json", nil)
	wantError(t, status, got, http.StatusNotFound, 20404)
	status, _, got = sc.do(http.MethodPost, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {"c"}})
	wantError(t, status, got, http.StatusForbidden, 20403)

	// A suspended sub-account cannot authenticate.
	main.do(http.MethodPost, "/2010-04-01/Accounts/"+sc.sid+".json", url.Values{"Status": {"suspended"}})
	status, _, got = sc.do(http.MethodGet, "/2010-04-01/Accounts/"+sc.sid+".json", nil)
	wantError(t, status, got, http.StatusUnauthorized, 20003)

	// The main account's status is not the API's to change.
	status, _, got = main.do(http.MethodPost, "/2010-04-01/Accounts/"+s.AccountSID()+".json", url.Values{"Status": {"closed"}})
	wantError(t, status, got, http.StatusForbidden, 20403)
}

func TestForgottenAccountIsNotFound(t *testing.T) {
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)
	gone := c.create("gone")["sid"].(string)
	kept := c.create("kept")["sid"].(string)
	if err := s.Forget(gone); err != nil {
		t.Fatal(err)
	}
	status, _, got := c.do(http.MethodGet, "/2010-04-01/Accounts/"+gone+".json", nil)
	wantError(t, status, got, http.StatusNotFound, 20404)
	status, _, got = c.do(http.MethodPost, "/2010-04-01/Accounts/"+gone+".json", url.Values{"Status": {"closed"}})
	wantError(t, status, got, http.StatusNotFound, 20404)
	status, _, got = c.do(http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {"gone"}})
	if accts, _ := got["accounts"].([]any); status != http.StatusOK || len(accts) != 0 {
		t.Errorf("list of a forgotten name: %d %v", status, got)
	}
	if _, ok := s.Account(kept); !ok || len(s.Subaccounts("")) != 1 {
		t.Errorf("the other sub-account went too: %+v", s.Subaccounts(""))
	}
	if err := s.Forget(gone); err == nil {
		t.Error("forgetting an unknown account succeeded")
	}
	if err := s.Forget(s.AccountSID()); err == nil {
		t.Error("the main account was forgotten")
	}
}

func TestRotatedAuthTokenRefusesTheOldOne(t *testing.T) {
	s := twiliotest.NewServer(t, emulator.Config{AuthToken: "before1"})
	old := newClient(t, s)
	if err := s.SetAuthToken("after2"); err != nil {
		t.Fatal(err)
	}
	status, _, got := old.do(http.MethodGet, "/2010-04-01/Accounts.json", nil)
	wantError(t, status, got, http.StatusUnauthorized, 20003)
	if s.AuthToken() != "after2" {
		t.Errorf("AuthToken() = %q after rotation", s.AuthToken())
	}
	rotated := newClient(t, s)
	if status, _, got := rotated.do(http.MethodGet, "/2010-04-01/Accounts.json", nil); status != http.StatusOK {
		t.Errorf("new token: %d %v", status, got)
	}
	if err := s.SetAuthToken("not/alphanumeric"); err == nil {
		t.Error("a token twilio-go would refuse was accepted")
	}
}

func TestRejectsBadRequests(t *testing.T) {
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)
	sid := c.create("a")["sid"].(string)
	for _, tc := range []struct {
		name, method, path string
		form               url.Values
		status, code       int
	}{
		{"unknown account", http.MethodGet, "/2010-04-01/Accounts/" + emulator.NewSID() + ".json", nil, 404, 20404},
		{"unknown path", http.MethodGet, "/2010-04-01/Calls.json", nil, 404, 20404},
		{"nested path", http.MethodGet, "/2010-04-01/Accounts/" + sid + "/Calls.json", nil, 404, 20404},
		{"delete", http.MethodDelete, "/2010-04-01/Accounts/" + sid + ".json", nil, 405, 20004},
		{"bad status", http.MethodPost, "/2010-04-01/Accounts/" + sid + ".json", url.Values{"Status": {"1"}}, 400, 20001},
		{"bad list status", http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"Status": {"gone"}}, 400, 20001},
		{"page size 0", http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"PageSize": {"0"}}, 400, 20001},
		{"page size 1001", http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"PageSize": {"1001"}}, 400, 20001},
		{"negative page", http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"Page": {"-1"}}, 400, 20001},
		{"bad token", http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"PageToken": {"PAnope"}}, 400, 20001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			status, _, got := c.do(tc.method, tc.path, tc.form)
			wantError(t, status, got, tc.status, tc.code)
		})
	}
}

func TestListPagesAndFilters(t *testing.T) {
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)
	var sids []string
	for i := range 5 {
		sids = append(sids, c.create("dup")["sid"].(string))
		if i == 1 {
			c.create("other")
		}
	}
	c.do(http.MethodPost, "/2010-04-01/Accounts/"+sids[4]+".json", url.Values{"Status": {"suspended"}})

	// Walk the pages by next_page_uri, as twilio-go does.
	var got []string
	next := "/2010-04-01/Accounts.json?FriendlyName=dup&PageSize=2"
	var pages []map[string]any
	for next != "" {
		status, _, page := c.do(http.MethodGet, next, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", next, status, page)
		}
		pages = append(pages, page)
		for _, a := range page["accounts"].([]any) {
			got = append(got, a.(map[string]any)["sid"].(string))
		}
		next, _ = page["next_page_uri"].(string)
		if len(pages) > 5 {
			t.Fatal("no end of pages")
		}
	}
	if strings.Join(got, ",") != strings.Join(sids, ",") {
		t.Errorf("walked %v, want %v", got, sids)
	}
	p1 := pages[1]
	wantPage := map[string]any{
		"page": 1.0, "page_size": 2.0, "start": 2.0, "end": 3.0,
		"first_page_uri": "/2010-04-01/Accounts.json?FriendlyName=dup&PageSize=2&Page=0",
		"uri":            "/2010-04-01/Accounts.json?FriendlyName=dup&PageSize=2&Page=1&PageToken=PA" + sids[1],
		"next_page_uri":  "/2010-04-01/Accounts.json?FriendlyName=dup&PageSize=2&Page=2&PageToken=PA" + sids[3],
	}
	for k, v := range wantPage {
		if p1[k] != v {
			t.Errorf("page 1 %s = %v, want %v", k, p1[k], v)
		}
	}
	if pages[0]["previous_page_uri"] != nil || pages[2]["next_page_uri"] != nil {
		t.Errorf("first page's previous %v, last page's next %v", pages[0]["previous_page_uri"], pages[2]["next_page_uri"])
	}

	// previous_page_uri leads back to the page before.
	status, _, back := c.do(http.MethodGet, pages[2]["previous_page_uri"].(string), nil)
	if accts := back["accounts"].([]any); status != http.StatusOK || len(accts) != 2 || accts[0].(map[string]any)["sid"] != sids[2] {
		t.Errorf("previous page: %d %v", status, back)
	}

	// Filters combine; no match is an empty page.
	_, _, act := c.do(http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {"dup"}, "Status": {"suspended"}})
	if accts := act["accounts"].([]any); len(accts) != 1 || accts[0].(map[string]any)["sid"] != sids[4] {
		t.Errorf("suspended dup: %v", act)
	}
	_, _, none := c.do(http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {"du"}})
	if accts := none["accounts"].([]any); len(accts) != 0 || none["start"] != 0.0 || none["end"] != 0.0 {
		t.Errorf("no match: %v", none)
	}
	// Unfiltered, the main account is listed first.
	_, _, all := c.do(http.MethodGet, "/2010-04-01/Accounts.json", nil)
	if accts := all["accounts"].([]any); len(accts) != 7 || accts[0].(map[string]any)["sid"] != s.AccountSID() {
		t.Errorf("all: %v", all)
	}
}

func TestFaults(t *testing.T) {
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)

	if err := s.Inject(emulator.Fault{Op: emulator.OpCreate, Status: 429, RetryAfter: 3, Times: 2}); err != nil {
		t.Fatal(err)
	}
	// Other operations pass.
	if status, _, _ := c.do(http.MethodGet, "/2010-04-01/Accounts.json", nil); status != 200 {
		t.Errorf("list during create fault: %d", status)
	}
	for range 2 {
		status, hdr, got := c.do(http.MethodPost, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {"x"}})
		wantError(t, status, got, 429, 20429)
		if hdr.Get("Retry-After") != "3" {
			t.Errorf("Retry-After %q", hdr.Get("Retry-After"))
		}
	}
	if len(s.Subaccounts("x")) != 0 || s.PendingFaults() != 0 {
		t.Fatalf("accounts %v, pending faults %d", s.Subaccounts("x"), s.PendingFaults())
	}
	c.create("x")

	// AfterApply: the account exists although the caller saw a 500.
	if err := s.Inject(emulator.Fault{Op: emulator.OpCreate, Status: 500, AfterApply: true}); err != nil {
		t.Fatal(err)
	}
	status, _, got := c.do(http.MethodPost, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {"lost"}})
	wantError(t, status, got, 500, 20500)
	if len(s.Subaccounts("lost")) != 1 {
		t.Errorf("lost-response create made %d accounts", len(s.Subaccounts("lost")))
	}

	// Drop: no response at all.
	if err := s.Inject(emulator.Fault{Op: emulator.OpFetch, Drop: true}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/2010-04-01/Accounts/"+s.AccountSID()+".json", nil)
	req.SetBasicAuth(s.AccountSID(), s.AuthToken())
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // no silent retry on a reused connection
	if resp, err := fresh.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Errorf("dropped request answered %d", resp.StatusCode)
	}

	// Delay alone slows a request down and then answers it.
	if err := s.Inject(emulator.Fault{Op: emulator.OpList, Delay: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if status, _, _ := c.do(http.MethodGet, "/2010-04-01/Accounts.json", nil); status != 200 || time.Since(start) < 150*time.Millisecond {
		t.Errorf("delayed list: %d after %v", status, time.Since(start))
	}

	for _, bad := range []emulator.Fault{{}, {Status: 200}, {Op: "Nope", Status: 500}} {
		if err := s.Inject(bad); err == nil {
			t.Errorf("Inject(%+v) accepted", bad)
		}
	}

	var ops []string
	for _, r := range s.Requests() {
		ops = append(ops, string(r.Op)+":"+strconv.Itoa(r.Status))
	}
	want := "ListAccount:200,CreateAccount:429,CreateAccount:429,CreateAccount:201,CreateAccount:500,FetchAccount:0,ListAccount:200"
	if strings.Join(ops, ",") != want {
		t.Errorf("request log %s\nwant        %s", strings.Join(ops, ","), want)
	}
	if s.Count(emulator.OpCreate) != 4 {
		t.Errorf("Count(create) = %d", s.Count(emulator.OpCreate))
	}
}

func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twilio.json")
	cfg := emulator.Config{AccountSID: emulator.NewSID(), AuthToken: "secret1", StateFile: path}
	s := twiliotest.NewServer(t, cfg)
	c := newClient(t, s)
	sid := c.create("kept")["sid"].(string)
	c.do(http.MethodPost, "/2010-04-01/Accounts/"+sid+".json", url.Values{"Status": {"suspended"}})

	again, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := again.Account(sid); !ok || a.Status != emulator.StatusSuspended || a.FriendlyName != "kept" {
		t.Errorf("after restart: %+v %v", a, ok)
	}
	if n := len(again.Accounts()); n != 2 {
		t.Errorf("after restart %d accounts, want 2", n)
	}

	other := cfg
	other.AccountSID = emulator.NewSID()
	if _, err := emulator.New(other); err == nil {
		t.Error("state of another main account was accepted")
	}
}

func TestControlEndpoints(t *testing.T) {
	s := twiliotest.NewServer(t, emulator.Config{})
	c := newClient(t, s)
	c.create("a")

	post := func(cl *client, path, body string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
		if cl.sid != "" {
			req.SetBasicAuth(cl.sid, cl.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	anon := &client{t: t, base: s.URL}
	if got := post(anon, "/_emulator/faults", `{"op":"CreateAccount","status":503}`); got != 401 {
		t.Errorf("anonymous fault: %d", got)
	}
	if got := post(c, "/_emulator/faults", `{"op":"CreateAccount","status":503,"times":2}`); got != 201 {
		t.Errorf("fault: %d", got)
	}
	if got := post(c, "/_emulator/faults", `{"op":"CreateAccount","sttus":503}`); got != 400 {
		t.Errorf("misspelt fault: %d", got)
	}
	if s.PendingFaults() != 2 {
		t.Errorf("pending faults %d", s.PendingFaults())
	}
	status, _, got := c.do(http.MethodGet, "/_emulator/accounts", nil)
	if accts, _ := got["accounts"].([]any); status != 200 || len(accts) != 2 {
		t.Errorf("accounts: %d %v", status, got)
	}
	if got := post(c, "/_emulator/reset", ""); got != 204 {
		t.Errorf("reset: %d", got)
	}
	if len(s.Accounts()) != 1 || s.PendingFaults() != 0 {
		t.Errorf("after reset: %d accounts, %d faults", len(s.Accounts()), s.PendingFaults())
	}
}

func TestConfigChecks(t *testing.T) {
	for _, cfg := range []emulator.Config{
		{AccountSID: "AC123"},
		{AuthToken: "not-alphanumeric"},
		{Type: "Gold"},
	} {
		if _, err := emulator.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	e, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetStatus("AC00000000000000000000000000000000", emulator.StatusClosed); err == nil {
		t.Error("SetStatus of an unknown account succeeded")
	}
	if err := e.SetStatus(e.AccountSID(), "gone"); err == nil || errors.Is(err, nil) {
		t.Error("SetStatus to an unknown status succeeded")
	}
}

// A change appends one line to the journal instead of rewriting the state
// file; a restart replays it (a last line cut short by a crash is
// ignored), folds it into the state file and empties it.
func TestStateJournalReplays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twilio.json")
	cfg := emulator.Config{AccountSID: emulator.NewSID(), AuthToken: "secret1", StateFile: path}
	s := twiliotest.NewServer(t, cfg)
	c := newClient(t, s)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kept := c.create("kept")["sid"].(string)
	gone := c.create("gone")["sid"].(string)
	c.do(http.MethodPost, "/2010-04-01/Accounts/"+kept+".json", url.Values{"Status": {"suspended"}})
	c.do(http.MethodPost, "/2010-04-01/Accounts/"+kept+".json", url.Values{"Status": {"suspended"}}) // no change
	if err := s.Forget(gone); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a change rewrote the state file")
	}
	journal, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(journal), "\n"); n != 4 {
		t.Errorf("journal has %d lines, want 4 (two creates, one update, one forget):\n%s", n, journal)
	}
	f, err := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"put":{"sid":"AC`); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	again, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := again.Account(kept); !ok || a.Status != emulator.StatusSuspended || a.FriendlyName != "kept" {
		t.Errorf("after restart: %+v %v", a, ok)
	}
	if _, ok := again.Account(gone); ok {
		t.Error("a forgotten account came back")
	}
	if _, err := os.Stat(path + ".journal"); !os.IsNotExist(err) {
		t.Errorf("journal not emptied after the restart folded it: %v", err)
	}
	third, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(third.Accounts()); n != 2 {
		t.Errorf("after a second restart %d accounts, want 2", n)
	}
}

// TestListByNameFollowsRenamesForgetsAndRestarts: a list by FriendlyName
// (looked up in the emulator's name index, not by a scan of every
// account) finds an account under its current name only, in creation
// order, after a rename, a Forget, a restart that replays the journal, and
// a Reset.
func TestListByNameFollowsRenamesForgetsAndRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twilio.json")
	cfg := emulator.Config{AccountSID: emulator.NewSID(), AuthToken: "secret1", StateFile: path}
	s := twiliotest.NewServer(t, cfg)
	c := newClient(t, s)
	a := c.create("x")["sid"].(string)
	b := c.create("x")["sid"].(string)
	gone := c.create("x")["sid"].(string)
	d := c.create("y")["sid"].(string)
	c.do(http.MethodPost, "/2010-04-01/Accounts/"+b+".json", url.Values{"FriendlyName": {"y"}})
	if err := s.Forget(gone); err != nil {
		t.Fatal(err)
	}
	e := c.create("x")["sid"].(string)

	names := func(c *client, name string) string {
		t.Helper()
		status, _, page := c.do(http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {name}})
		if status != http.StatusOK {
			t.Fatalf("list %q: %d %v", name, status, page)
		}
		var sids []string
		for _, acct := range page["accounts"].([]any) {
			sids = append(sids, acct.(map[string]any)["sid"].(string))
		}
		return strings.Join(sids, ",")
	}
	want := map[string]string{"x": a + "," + e, "y": b + "," + d, "gone": ""}
	for name, sids := range want {
		if got := names(c, name); got != sids {
			t.Errorf("list %q: %s, want %s", name, got, sids)
		}
	}

	// Restarted from the state file and its journal: the same answers.
	again, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(again)
	defer srv.Close()
	rc := &client{t: t, base: srv.URL, sid: cfg.AccountSID, auth: cfg.AuthToken}
	for name, sids := range want {
		if got := names(rc, name); got != sids {
			t.Errorf("after a restart, list %q: %s, want %s", name, got, sids)
		}
	}
	// A page token still walks the name's accounts in creation order.
	status, _, page := rc.do(http.MethodGet, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {"y"}, "PageSize": {"1"}, "PageToken": {"PA" + b}})
	if accts, _ := page["accounts"].([]any); status != http.StatusOK || len(accts) != 1 || accts[0].(map[string]any)["sid"] != d {
		t.Errorf("the page after %s: %d %v, want %s", b, status, page, d)
	}

	if err := again.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := names(rc, "x"); got != "" {
		t.Errorf("after a reset, list x: %s, want none", got)
	}
	if got := names(rc, "TextKit emulator"); got != cfg.AccountSID {
		t.Errorf("after a reset, the main account by name: %s, want %s", got, cfg.AccountSID)
	}
}
