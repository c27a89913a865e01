package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Op names one operation of the Accounts API, as faults and the request log
// see it.
type Op string

// The emulated operations (operationIds in Twilio's description), and the
// control endpoints.
const (
	OpCreate  Op = "CreateAccount"
	OpList    Op = "ListAccount"
	OpFetch   Op = "FetchAccount"
	OpUpdate  Op = "UpdateAccount"
	OpControl Op = "control"
)

const (
	apiPrefix      = "/2010-04-01/Accounts"
	listPath       = apiPrefix + ".json"
	maxNameLen     = 64
	defaultPage    = 50
	maxPageSize    = 1000
	moreInfoPrefix = "https://www.twilio.com/docs/errors/"
)

// Handler serves the Accounts API and the control endpoints:
//
//	POST /2010-04-01/Accounts.json        create a sub-account (FriendlyName)
//	GET  /2010-04-01/Accounts.json        list (FriendlyName, Status, PageSize, Page, PageToken)
//	GET  /2010-04-01/Accounts/{Sid}.json  fetch
//	POST /2010-04-01/Accounts/{Sid}.json  update (FriendlyName, Status)
//	GET  /_emulator/accounts              every account, as JSON (main account's credentials)
//	POST /_emulator/faults                inject a Fault, given as JSON (main account's credentials)
//	POST /_emulator/reset                 Reset (main account's credentials)
//
// Rules beyond the description, and where they come from:
//   - HTTP Basic auth with an account's SID and token; anything else is 401,
//     code 20003. A closed or suspended account cannot authenticate.
//   - The main account sees itself and its sub-accounts; a sub-account sees
//     only itself. An account it cannot see is 404, code 20404.
//   - Only a main account creates sub-accounts (403, code 20403 otherwise).
//   - A closed account's Status cannot change: 400, code 21479 (Twilio's).
//   - The main account's own Status cannot change through the API here:
//     403, code 20403 (our choice).
//   - FriendlyName is at most 64 characters, Status one of active,
//     suspended, closed, PageSize 1 to 1000, Page 0 or more: 400, code 20001
//     otherwise (our choice of code).
//   - Lists are in creation order. next_page_uri and previous_page_uri carry
//     a PageToken (PA<sid>: after that account, PB<sid>: before it), so a
//     page walk is stable while accounts are added.
//   - Unknown paths are 404 (20404); a known path with another method is
//     405 (20004).
func (e *Emulator) Handler() http.Handler { return http.HandlerFunc(e.serve) }

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	op, sid, ok := route(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if op == OpControl {
		e.serveControl(w, r)
		return
	}
	switch {
	case sid == "" && r.Method == http.MethodPost:
		op = OpCreate
	case sid == "" && r.Method == http.MethodGet:
		op = OpList
	case sid != "" && r.Method == http.MethodGet:
		op = OpFetch
	case sid != "" && r.Method == http.MethodPost:
		op = OpUpdate
	default:
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Unable to parse the request: "+err.Error())
		return
	}
	rec := e.record(op, r, sid)
	f := e.takeFault(op)
	if f != nil && f.Delay > 0 {
		// Like a slow Twilio, carry on even if the caller gave up: a
		// timed-out create may still make the account.
		time.Sleep(f.Delay)
	}
	if f != nil && !f.AfterApply && (f.Status != 0 || f.Drop) {
		e.answerFault(w, rec, f)
		return
	}
	status, body := e.apply(op, r, sid)
	if f != nil && f.AfterApply && (f.Status != 0 || f.Drop) {
		e.answerFault(w, rec, f)
		return
	}
	e.setStatus(rec, status)
	writeJSON(w, status, body)
}

// route splits a path into the resource it names: the list (sid ""), one
// account, or the control endpoints.
func route(path string) (op Op, sid string, ok bool) {
	switch {
	case strings.HasPrefix(path, "/_emulator/"):
		return OpControl, "", true
	case path == listPath:
		return "", "", true
	case strings.HasPrefix(path, apiPrefix+"/") && strings.HasSuffix(path, ".json"):
		sid = strings.TrimSuffix(strings.TrimPrefix(path, apiPrefix+"/"), ".json")
		if sid == "" || strings.Contains(sid, "/") {
			return "", "", false
		}
		return "", sid, true
	}
	return "", "", false
}

// apply runs an authenticated operation and returns the status and body.
func (e *Emulator) apply(op Op, r *http.Request, sid string) (int, any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	caller, errBody := e.authenticateLocked(r)
	if errBody != nil {
		return errBody.Status, errBody
	}
	switch op {
	case OpCreate:
		return e.createLocked(caller, r.PostForm)
	case OpList:
		return e.listLocked(caller, r.Form)
	case OpFetch:
		a, notFound := e.visibleLocked(caller, sid, r.URL.Path)
		if notFound != nil {
			return notFound.Status, notFound
		}
		return http.StatusOK, render(a)
	default:
		return e.updateLocked(caller, sid, r.PostForm, r.URL.Path)
	}
}

func (e *Emulator) authenticateLocked(r *http.Request) (*Account, *apiError) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil, newError(http.StatusUnauthorized, 20003, "Authenticate")
	}
	a, found := e.accounts[user]
	if !found || !equalSecret(a.AuthToken, pass) || a.Status != StatusActive {
		return nil, newError(http.StatusUnauthorized, 20003, "Authenticate")
	}
	return a, nil
}

func (e *Emulator) visibleLocked(caller *Account, sid, path string) (*Account, *apiError) {
	a, ok := e.accounts[sid]
	if !ok || (a.SID != caller.SID && a.OwnerSID != caller.SID) {
		return nil, newError(http.StatusNotFound, 20404, "The requested resource "+path+" was not found")
	}
	return a, nil
}

func (e *Emulator) createLocked(caller *Account, form url.Values) (int, any) {
	if !caller.IsMain() {
		return http.StatusForbidden, newError(http.StatusForbidden, 20403, "Permission denied: a sub-account cannot create sub-accounts")
	}
	now := e.now()
	name := form.Get("FriendlyName")
	if _, given := form["FriendlyName"]; !given {
		name = "SubAccount Created at " + now.Format("2006-01-02 03:04 pm")
	}
	if bad := checkName(name); bad != nil {
		return bad.Status, bad
	}
	a := &Account{
		SID: NewSID(), OwnerSID: caller.SID, AuthToken: randomHex(16), FriendlyName: name,
		Status: StatusActive, Type: caller.Type, Created: now, Updated: now,
	}
	e.add(a)
	if err := e.journalLocked(journalEntry{Put: a}); err != nil {
		return http.StatusInternalServerError, newError(http.StatusInternalServerError, 20500, err.Error())
	}
	return http.StatusCreated, render(a)
}

func (e *Emulator) updateLocked(caller *Account, sid string, form url.Values, path string) (int, any) {
	a, notFound := e.visibleLocked(caller, sid, path)
	if notFound != nil {
		return notFound.Status, notFound
	}
	_, setName := form["FriendlyName"]
	name := form.Get("FriendlyName")
	if setName {
		if bad := checkName(name); bad != nil {
			return bad.Status, bad
		}
	}
	_, setStatus := form["Status"]
	status := Status(form.Get("Status"))
	if setStatus {
		switch {
		case !status.valid():
			return http.StatusBadRequest, newError(http.StatusBadRequest, 20001,
				"Invalid Status: must be one of active, suspended, closed")
		case a.IsMain():
			return http.StatusForbidden, newError(http.StatusForbidden, 20403,
				"Permission denied: the main account's status cannot be changed through the API")
		case a.Status == StatusClosed:
			return http.StatusBadRequest, newError(http.StatusBadRequest, 21479,
				"Unable to update Status for subaccount, subaccount has been closed.")
		}
	}
	changed := (setName && name != a.FriendlyName) || (setStatus && status != a.Status)
	if setName {
		old := a.FriendlyName
		a.FriendlyName = name
		e.renamed(a, old)
	}
	if setStatus {
		a.Status = status
	}
	if changed {
		// An update to what the account already is changes nothing,
		// not even its date.
		a.Updated = e.now()
		if err := e.journalLocked(journalEntry{Put: a}); err != nil {
			return http.StatusInternalServerError, newError(http.StatusInternalServerError, 20500, err.Error())
		}
	}
	return http.StatusOK, render(a)
}

func checkName(name string) *apiError {
	if len([]rune(name)) > maxNameLen {
		return newError(http.StatusBadRequest, 20001,
			fmt.Sprintf("Invalid FriendlyName: at most %d characters", maxNameLen))
	}
	return nil
}

// listPage is the ListAccountResponse of the description.
type listPage struct {
	Accounts        []accountJSON `json:"accounts"`
	End             int           `json:"end"`
	FirstPageURI    string        `json:"first_page_uri"`
	NextPageURI     *string       `json:"next_page_uri"`
	Page            int           `json:"page"`
	PageSize        int           `json:"page_size"`
	PreviousPageURI *string       `json:"previous_page_uri"`
	Start           int           `json:"start"`
	URI             string        `json:"uri"`
}

func (e *Emulator) listLocked(caller *Account, q url.Values) (int, any) {
	lq, err := parseListQuery(q)
	if err != nil {
		return err.Status, err
	}
	matches, pos := e.matchesLocked(caller, lq)
	from, err := e.pageStart(lq, pos)
	if err != nil {
		return err.Status, err
	}
	from = min(from, len(matches))
	to := min(from+lq.size, len(matches))
	return http.StatusOK, lq.pageOf(matches, from, to)
}

// listQuery is a parsed ListAccount query: its filters and the page asked
// for.
type listQuery struct {
	size, page int
	name       string
	byName     bool
	status     Status
	byStatus   bool
	token      string // PageToken, "" if none
}

// parseListQuery checks the page and filter parameters; PageToken is
// checked by pageStart.
func parseListQuery(q url.Values) (listQuery, *apiError) {
	size, err := intParam(q, "PageSize", defaultPage, 1, maxPageSize)
	if err != nil {
		return listQuery{}, err
	}
	page, err := intParam(q, "Page", 0, 0, -1)
	if err != nil {
		return listQuery{}, err
	}
	lq := listQuery{size: size, page: page, token: q.Get("PageToken")}
	lq.name, lq.byName = q.Get("FriendlyName"), q.Has("FriendlyName")
	lq.status, lq.byStatus = Status(q.Get("Status")), q.Has("Status")
	if lq.byStatus && !lq.status.valid() {
		return listQuery{}, newError(http.StatusBadRequest, 20001,
			"Invalid Status: must be one of active, suspended, closed")
	}
	return lq, nil
}

// matchesLocked returns every account the caller may see that matches the
// filters, in creation order, with its creation position for PageToken.
// A list by FriendlyName looks only at the accounts of that name.
func (e *Emulator) matchesLocked(caller *Account, lq listQuery) (matches []*Account, pos []int) {
	sids := e.order
	if lq.byName {
		sids = make([]string, 0, len(e.byName[lq.name]))
		for sid := range e.byName[lq.name] {
			sids = append(sids, sid)
		}
		slices.SortFunc(sids, func(a, b string) int { return e.seq[a] - e.seq[b] })
	}
	for _, sid := range sids {
		a := e.accounts[sid]
		if a.SID != caller.SID && a.OwnerSID != caller.SID ||
			lq.byName && a.FriendlyName != lq.name || lq.byStatus && a.Status != lq.status {
			continue
		}
		matches, pos = append(matches, a), append(pos, e.seq[sid])
	}
	return matches, pos
}

// pageStart returns the index in the matches (positions pos) where the
// page starts: by Page, or by PageToken when there is one, which wins.
func (e *Emulator) pageStart(lq listQuery, pos []int) (int, *apiError) {
	from := lq.page * lq.size
	if lq.token == "" {
		return from, nil
	}
	at, before, ok := e.parseToken(lq.token)
	if !ok {
		return 0, newError(http.StatusBadRequest, 20001, "Invalid PageToken")
	}
	k := 0 // matches[:k] lie before the token's account
	for k < len(pos) && pos[k] < at {
		k++
	}
	if before {
		return max(0, k-lq.size), nil
	}
	if k < len(pos) && pos[k] == at {
		k++
	}
	return k, nil
}

// pageOf renders matches[from:to] as the page, with the URIs of the
// first, next and previous pages under the same filters.
func (lq listQuery) pageOf(matches []*Account, from, to int) listPage {
	base := url.Values{}
	if lq.byName {
		base.Set("FriendlyName", lq.name)
	}
	if lq.byStatus {
		base.Set("Status", string(lq.status))
	}
	pageURI := func(p int, token string) string {
		return listPath + "?" + encodeOrdered(base, lq.size, p, token)
	}
	out := listPage{
		Accounts:     make([]accountJSON, 0, to-from),
		FirstPageURI: pageURI(0, ""),
		Page:         lq.page,
		PageSize:     lq.size,
		Start:        lq.page * lq.size,
		URI:          pageURI(lq.page, lq.token),
	}
	for _, a := range matches[from:to] {
		out.Accounts = append(out.Accounts, render(a))
	}
	out.End = out.Start
	if n := len(out.Accounts); n > 0 {
		out.End = out.Start + n - 1
	}
	if to < len(matches) {
		next := pageURI(lq.page+1, "PA"+matches[to-1].SID)
		out.NextPageURI = &next
	}
	if from > 0 && lq.page > 0 {
		prev := pageURI(lq.page-1, "PB"+matches[from].SID)
		out.PreviousPageURI = &prev
	}
	return out
}

// parseToken reads a PageToken: the creation position of its account and
// whether the page lies before (PB) or after (PA) it.
func (e *Emulator) parseToken(tok string) (at int, before, ok bool) {
	if len(tok) < 3 || (tok[:2] != "PA" && tok[:2] != "PB") {
		return 0, false, false
	}
	at, ok = e.seq[tok[2:]]
	return at, tok[:2] == "PB", ok
}

// encodeOrdered writes list parameters in Twilio's order: FriendlyName,
// Status, PageSize, Page, PageToken.
func encodeOrdered(filters url.Values, size, page int, token string) string {
	var parts []string
	for _, k := range []string{"FriendlyName", "Status"} {
		if filters.Has(k) {
			parts = append(parts, k+"="+url.QueryEscape(filters.Get(k)))
		}
	}
	parts = append(parts, "PageSize="+strconv.Itoa(size), "Page="+strconv.Itoa(page))
	if token != "" {
		parts = append(parts, "PageToken="+url.QueryEscape(token))
	}
	return strings.Join(parts, "&")
}

func intParam(q url.Values, name string, def, lo, hi int) (int, *apiError) {
	if !q.Has(name) {
		return def, nil
	}
	v, err := strconv.Atoi(q.Get(name))
	if err != nil || v < lo || (hi >= 0 && v > hi) {
		bounds := fmt.Sprintf("at least %d", lo)
		if hi >= 0 {
			bounds = fmt.Sprintf("from %d to %d", lo, hi)
		}
		return 0, newError(http.StatusBadRequest, 20001, "Invalid "+name+": must be an integer "+bounds)
	}
	return v, nil
}

// accountJSON is api.v2010.account of the description, in its field order.
type accountJSON struct {
	AuthToken       string            `json:"auth_token"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	FriendlyName    string            `json:"friendly_name"`
	OwnerAccountSID string            `json:"owner_account_sid"`
	SID             string            `json:"sid"`
	Status          Status            `json:"status"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
	Type            string            `json:"type"`
	URI             string            `json:"uri"`
}

// subresources are the sub-resource URIs Twilio lists for an account.
var subresources = map[string]string{
	"addresses": "Addresses", "applications": "Applications",
	"authorized_connect_apps": "AuthorizedConnectApps", "available_phone_numbers": "AvailablePhoneNumbers",
	"balance": "Balance", "calls": "Calls", "conferences": "Conferences", "connect_apps": "ConnectApps",
	"incoming_phone_numbers": "IncomingPhoneNumbers", "keys": "Keys", "messages": "Messages",
	"notifications": "Notifications", "outgoing_caller_ids": "OutgoingCallerIds", "queues": "Queues",
	"recordings": "Recordings", "short_codes": "SMS/ShortCodes", "signing_keys": "SigningKeys",
	"sip": "SIP", "transcriptions": "Transcriptions", "usage": "Usage",
}

// rfc2822 is the date format of the 2010-04-01 API.
const rfc2822 = "Mon, 02 Jan 2006 15:04:05 -0700"

func render(a *Account) accountJSON {
	uris := make(map[string]string, len(subresources))
	for k, v := range subresources {
		uris[k] = apiPrefix + "/" + a.SID + "/" + v + ".json"
	}
	return accountJSON{
		AuthToken: a.AuthToken, DateCreated: a.Created.UTC().Format(rfc2822),
		DateUpdated: a.Updated.UTC().Format(rfc2822), FriendlyName: a.FriendlyName,
		OwnerAccountSID: a.OwnerSID, SID: a.SID, Status: a.Status, SubresourceURIs: uris,
		Type: a.Type, URI: apiPrefix + "/" + a.SID + ".json",
	}
}

// apiError is Twilio's error body.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func newError(status, code int, message string) *apiError {
	return &apiError{Code: code, Message: message, MoreInfo: moreInfoPrefix + strconv.Itoa(code), Status: status}
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, newError(status, code, message))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":20500,"message":"Internal Server Error","more_info":"`+moreInfoPrefix+`20500","status":500}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
