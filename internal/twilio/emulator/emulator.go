// Package emulator is a stateful emulator of Twilio's 2010-04-01 Accounts
// API (the main account and its sub-accounts), for the local dev stack
// (cmd/twilio-emulator serves it) and for tests (internal/twilio/twiliotest
// starts one per test), where the real Twilio cannot be reached.
//
// It speaks the wire format of Twilio's OpenAPI description
// (twilio_api_v2010.json): form-encoded requests, JSON responses, HTTP Basic
// auth with an account SID and auth token, page-based lists, and Twilio's
// error body ({"code", "message", "more_info", "status"}). The contract tests
// in internal/twilio run it behind Stoplight Prism, which checks every
// response against that description.
//
// Behaviour the description does not give is taken from Twilio's
// documentation where it says (error 21479: a closed account's status cannot
// change; 20404 for unknown resources; 20003 for bad credentials) and is
// otherwise the emulator's own documented choice (see Handler).
//
// Faults (errors, rate limits, delays, lost responses, dropped connections)
// can be injected per operation to test retries and find-or-create.
package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Status is an account's status, as Twilio spells it.
type Status string

// Account statuses (account_enum_status in the description).
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusClosed    Status = "closed"
)

func (s Status) valid() bool {
	return s == StatusActive || s == StatusSuspended || s == StatusClosed
}

// Account is the emulator's record of one account.
type Account struct {
	SID          string    `json:"sid"`
	OwnerSID     string    `json:"owner_account_sid"`
	AuthToken    string    `json:"auth_token"`
	FriendlyName string    `json:"friendly_name"`
	Status       Status    `json:"status"`
	Type         string    `json:"type"`
	Created      time.Time `json:"date_created"`
	Updated      time.Time `json:"date_updated"`
}

// IsMain reports whether a is a main account (its own owner).
func (a Account) IsMain() bool { return a.OwnerSID == a.SID }

// Config configures an Emulator. The zero value is usable.
type Config struct {
	// AccountSID and AuthToken are the main account's credentials. Both are
	// generated when empty. The SID must look like AC + 32 hex digits, and
	// both must be alphanumeric (twilio-go refuses anything else).
	AccountSID string
	AuthToken  string
	// FriendlyName of the main account; "TextKit emulator" when empty.
	FriendlyName string
	// Type of the main account, "Full" or "Trial"; sub-accounts inherit it.
	// "Full" when empty.
	Type string
	// StateFile, when set, keeps the accounts across restarts: it is read at
	// start (if it exists) with its journal (StateFile + ".journal", one
	// JSON line appended per change, replayed over it), then rewritten
	// whole and the journal emptied. A change costs one appended line, not
	// a rewrite of every account; like the rewrite it replaced, it is not
	// fsynced (it survives the emulator's crash, not the machine's).
	StateFile string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Emulator holds the accounts and serves the API. It is safe for
// concurrent use. Create one with New.
type Emulator struct {
	mainSID   string
	now       func() time.Time
	stateFile string

	mu       sync.Mutex
	accounts map[string]*Account
	order    []string // SIDs in creation order: the list order
	// The list's lookups without a scan of every account: a list by
	// FriendlyName (two per registration) costs what it finds, not what
	// the emulator holds.
	seq      map[string]int                 // SID → creation position (increasing; gaps after Forget)
	byName   map[string]map[string]struct{} // FriendlyName → SIDs
	nextSeq  int
	faults   []*faultState
	requests []Request
}

// New returns an emulator with the main account of cfg and the accounts of
// cfg.StateFile, if it exists.
func New(cfg Config) (*Emulator, error) {
	if cfg.AccountSID == "" {
		cfg.AccountSID = NewSID()
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = randomHex(16)
	}
	if !validSID(cfg.AccountSID) {
		return nil, fmt.Errorf("emulator: account sid %q is not AC followed by 32 hex digits", cfg.AccountSID)
	}
	if !alphanumeric(cfg.AuthToken) {
		return nil, errors.New("emulator: auth token must be alphanumeric")
	}
	if cfg.FriendlyName == "" {
		cfg.FriendlyName = "TextKit emulator"
	}
	switch cfg.Type {
	case "":
		cfg.Type = "Full"
	case "Full", "Trial":
	default:
		return nil, fmt.Errorf("emulator: account type %q is neither Full nor Trial", cfg.Type)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Emulator{
		mainSID:   cfg.AccountSID,
		now:       func() time.Time { return cfg.Now().UTC().Truncate(time.Second) },
		stateFile: cfg.StateFile,
		accounts:  map[string]*Account{},
	}
	if e.stateFile != "" {
		loaded, err := e.load()
		if err != nil {
			return nil, err
		}
		if loaded {
			main := e.accounts[e.mainSID]
			old := main.FriendlyName
			main.AuthToken, main.FriendlyName, main.Type = cfg.AuthToken, cfg.FriendlyName, cfg.Type
			e.renamed(main, old)
			return e, nil
		}
	}
	now := e.now()
	e.add(&Account{
		SID: cfg.AccountSID, OwnerSID: cfg.AccountSID, AuthToken: cfg.AuthToken,
		FriendlyName: cfg.FriendlyName, Status: StatusActive, Type: cfg.Type,
		Created: now, Updated: now,
	})
	// A first start writes the state file at once: the journal's
	// changes apply over it.
	if err := e.saveLocked(); err != nil {
		return nil, err
	}
	return e, nil
}

// AccountSID returns the main account's SID.
func (e *Emulator) AccountSID() string { return e.mainSID }

// AuthToken returns the main account's auth token.
func (e *Emulator) AuthToken() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accounts[e.mainSID].AuthToken
}

// Accounts returns every account, the main one first, in creation order.
func (e *Emulator) Accounts() []Account {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Account, 0, len(e.order))
	for _, sid := range e.order {
		out = append(out, *e.accounts[sid])
	}
	return out
}

// Subaccounts returns the sub-accounts named friendlyName, in creation
// order; all sub-accounts when friendlyName is "".
func (e *Emulator) Subaccounts(friendlyName string) []Account {
	var out []Account
	for _, a := range e.Accounts() {
		if !a.IsMain() && (friendlyName == "" || a.FriendlyName == friendlyName) {
			out = append(out, a)
		}
	}
	return out
}

// Account returns the account sid.
func (e *Emulator) Account(sid string) (Account, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[sid]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// SetStatus changes an account's status directly, as Twilio itself might
// (suspending an account for non-payment, say). It applies none of the
// API's rules.
func (e *Emulator) SetStatus(sid string, s Status) error {
	if !s.valid() {
		return fmt.Errorf("emulator: unknown status %q", s)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[sid]
	if !ok {
		return fmt.Errorf("emulator: no account %s", sid)
	}
	a.Status, a.Updated = s, e.now()
	return e.journalLocked(journalEntry{Put: a})
}

// SetAuthToken changes the main account's auth token, as rotating it in
// Twilio's console does: clients holding the old one get 401 (code 20003)
// from then on, until they are given the new one or it is set back.
func (e *Emulator) SetAuthToken(token string) error {
	if !alphanumeric(token) {
		return errors.New("emulator: auth token must be alphanumeric")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.accounts[e.mainSID].AuthToken = token
	return e.journalLocked(journalEntry{Put: e.accounts[e.mainSID]})
}

// Forget removes the sub-account sid, as if it had never been ours: from
// then on Twilio answers 404 (code 20404) for it, as it does for an
// account that was moved to another main account or purged after it was
// closed. The main account cannot be forgotten.
func (e *Emulator) Forget(sid string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if sid == e.mainSID {
		return errors.New("emulator: the main account cannot be forgotten")
	}
	if _, ok := e.accounts[sid]; !ok {
		return fmt.Errorf("emulator: no account %s", sid)
	}
	e.remove(sid)
	return e.journalLocked(journalEntry{Forget: sid})
}

// Reset forgets every sub-account, fault and recorded request; the main
// account stays.
func (e *Emulator) Reset() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	main := e.accounts[e.mainSID]
	e.accounts, e.order, e.seq, e.byName = map[string]*Account{}, nil, nil, nil
	e.add(main)
	e.faults = nil
	e.requests = nil
	return e.saveLocked()
}

func (e *Emulator) add(a *Account) {
	if e.seq == nil {
		e.seq, e.byName = map[string]int{}, map[string]map[string]struct{}{}
	}
	e.accounts[a.SID] = a
	e.order = append(e.order, a.SID)
	e.seq[a.SID] = e.nextSeq
	e.nextSeq++
	e.named(a.SID, a.FriendlyName)
}

// remove forgets the account sid.
func (e *Emulator) remove(sid string) {
	if a, ok := e.accounts[sid]; ok {
		e.unnamed(sid, a.FriendlyName)
	}
	delete(e.accounts, sid)
	delete(e.seq, sid)
	e.order = slices.DeleteFunc(e.order, func(s string) bool { return s == sid })
}

// renamed moves a in the name index after its FriendlyName changed from old.
func (e *Emulator) renamed(a *Account, old string) {
	if old != a.FriendlyName {
		e.unnamed(a.SID, old)
		e.named(a.SID, a.FriendlyName)
	}
}

func (e *Emulator) named(sid, name string) {
	set := e.byName[name]
	if set == nil {
		set = map[string]struct{}{}
		e.byName[name] = set
	}
	set[sid] = struct{}{}
}

func (e *Emulator) unnamed(sid, name string) {
	delete(e.byName[name], sid)
	if len(e.byName[name]) == 0 {
		delete(e.byName, name)
	}
}

// stateDoc is the StateFile's content.
type stateDoc struct {
	Accounts []Account `json:"accounts"`
}

func (e *Emulator) load() (bool, error) {
	b, err := os.ReadFile(e.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("emulator: read state: %w", err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return false, fmt.Errorf("emulator: parse state %s: %w", e.stateFile, err)
	}
	accounts := slices.Clone(doc.Accounts)
	sort.SliceStable(accounts, func(i, j int) bool { return accounts[i].Created.Before(accounts[j].Created) })
	for i := range accounts {
		a := accounts[i]
		if !validSID(a.SID) || !a.Status.valid() {
			return false, fmt.Errorf("emulator: state %s holds an invalid account %q", e.stateFile, a.SID)
		}
		if a.IsMain() && a.SID != e.mainSID {
			return false, fmt.Errorf("emulator: state %s belongs to main account %s, not %s", e.stateFile, a.SID, e.mainSID)
		}
		e.add(&a)
	}
	if err := e.replayJournal(); err != nil {
		return false, err
	}
	if _, ok := e.accounts[e.mainSID]; !ok {
		return false, fmt.Errorf("emulator: state %s has no main account %s", e.stateFile, e.mainSID)
	}
	// Fold the journal into the state file, so the next start replays
	// nothing.
	if err := e.saveLocked(); err != nil {
		return false, err
	}
	return true, nil
}

// journalEntry is one line of the state file's journal: an account as it
// now is (created or changed), or one forgotten.
type journalEntry struct {
	Put    *Account `json:"put,omitempty"`
	Forget string   `json:"forget,omitempty"`
}

func (e *Emulator) journalFile() string { return e.stateFile + ".journal" }

// journalLocked appends one change to the journal; e.mu must be held.
func (e *Emulator) journalLocked(j journalEntry) error {
	if e.stateFile == "" {
		return nil
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("emulator: journal: %w", err)
	}
	f, err := os.OpenFile(e.journalFile(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("emulator: journal: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close() // the write's error is the one to report
		return fmt.Errorf("emulator: journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("emulator: journal: %w", err)
	}
	return nil
}

// replayJournal applies the journal's changes over the state file's
// accounts. A last line cut short (a crash in the middle of a write) is
// ignored: that change was never answered.
func (e *Emulator) replayJournal() error {
	b, err := os.ReadFile(e.journalFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("emulator: read journal: %w", err)
	}
	lines := bytes.Split(b, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var j journalEntry
		if err := json.Unmarshal(line, &j); err != nil {
			if i == len(lines)-1 {
				break // cut short: never answered
			}
			return fmt.Errorf("emulator: journal %s line %d: %w", e.journalFile(), i+1, err)
		}
		switch {
		case j.Put != nil && (!validSID(j.Put.SID) || !j.Put.Status.valid()):
			return fmt.Errorf("emulator: journal %s line %d holds an invalid account %q", e.journalFile(), i+1, j.Put.SID)
		case j.Put != nil && e.accounts[j.Put.SID] != nil:
			a := e.accounts[j.Put.SID]
			old := a.FriendlyName
			*a = *j.Put
			e.renamed(a, old)
		case j.Put != nil:
			e.add(j.Put)
		case j.Forget != "" && j.Forget != e.mainSID:
			e.remove(j.Forget)
		}
	}
	return nil
}

// saveLocked writes the state file atomically and empties the journal;
// e.mu must be held.
func (e *Emulator) saveLocked() error {
	if e.stateFile == "" {
		return nil
	}
	doc := stateDoc{Accounts: make([]Account, 0, len(e.order))}
	for _, sid := range e.order {
		doc.Accounts = append(doc.Accounts, *e.accounts[sid])
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(e.stateFile), ".twilio-state-*")
	if err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	// the temporary file is gone after a successful rename: not an error
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(b); err != nil {
		// the write's error is the one to report
		_ = tmp.Close()
		return fmt.Errorf("emulator: save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), e.stateFile); err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	if err := os.Remove(e.journalFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("emulator: empty the journal: %w", err)
	}
	return nil
}

// NewSID returns a random account SID: AC followed by 32 lowercase hex digits.
func NewSID() string { return "AC" + randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

func validSID(s string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, "AC") {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}

func alphanumeric(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return s != ""
}

func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// ServeHTTP makes the emulator an http.Handler; it is Handler().
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.Handler().ServeHTTP(w, r)
}
