package twilio

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// Status is a Twilio account's status.
type Status string

// Account statuses, as Twilio spells them.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusClosed    Status = "closed"
)

// Account is a Twilio sub-account. Its auth token is deliberately left
// out: nothing here needs it, and what is not held cannot leak.
type Account struct {
	SID          string
	OwnerSID     string
	FriendlyName string
	Status       Status
	Created      time.Time // zero when Twilio's date did not parse
	Updated      time.Time
}

// namePrefix starts every customer's sub-account name. Changing it orphans
// every existing sub-account: find-or-create would no longer find them.
const namePrefix = "textkit-customer-"

// maxNameLen is Twilio's limit on a FriendlyName.
const maxNameLen = 64

// SubaccountName is the FriendlyName of customerID's sub-account, the key
// find-or-create looks it up by.
func SubaccountName(customerID string) string { return namePrefix + customerID }

// listPageSize is how many accounts one list request asks for. Duplicates of
// one name are rare, so one page nearly always holds them all.
const listPageSize = 50

// EnsureSubaccount returns customerID's sub-account, creating it when there
// is none. Retrying after any failure never leaves two open sub-accounts
// for one customer: a created account whose response was lost is found by
// its name the next time, and when two callers raced to create, both settle
// on the oldest account and each closes the one it created if that is not it.
//
// Errors: ErrRejected for an unusable customerID; any kind from Twilio.
func (c *Client) EnsureSubaccount(ctx context.Context, customerID string) (Account, error) {
	const op = "ensure sub-account"
	name, err := checkedName(op, customerID)
	if err != nil {
		return Account{}, err
	}
	if found, ok, err := c.findByName(ctx, op, name); err != nil || ok {
		return found, err
	}

	call := c.newCall(ctx)
	created, err := call.api.CreateAccount((&twapi.CreateAccountParams{}).SetFriendlyName(name))
	if err != nil {
		return Account{}, classify(ctx, "create sub-account", call.ex, err)
	}
	mine, err := fromAPI("create sub-account", created)
	if err != nil {
		return Account{}, err
	}

	// Settle a race with another creator: everyone keeps the oldest.
	oldest, ok, err := c.findByName(ctx, op, name)
	if err != nil || !ok || oldest.SID == mine.SID {
		return mine, nil // ours is the only one we know of
	}
	// Best effort: should closing fail, the duplicate stays open, but every
	// caller settles on oldest, so no customer ever uses it.
	_, _ = c.Close(ctx, mine.SID)
	return oldest, nil
}

// FindSubaccount returns customerID's sub-account and true, or false when
// it has none. When duplicates exist it returns the oldest, as
// EnsureSubaccount does.
//
// Errors: ErrRejected for an unusable customerID; any kind from Twilio.
func (c *Client) FindSubaccount(ctx context.Context, customerID string) (Account, bool, error) {
	const op = "find sub-account"
	name, err := checkedName(op, customerID)
	if err != nil {
		return Account{}, false, err
	}
	return c.findByName(ctx, op, name)
}

func (c *Client) findByName(ctx context.Context, op, name string) (Account, bool, error) {
	call := c.newCall(ctx)
	params := (&twapi.ListAccountParams{}).SetFriendlyName(name).SetPageSize(listPageSize)
	list, err := call.api.ListAccount(params)
	if err != nil {
		return Account{}, false, classify(ctx, op, call.ex, err)
	}
	var matches []Account
	for i := range list {
		a, err := fromAPI(op, &list[i])
		if err != nil {
			return Account{}, false, err
		}
		// Twilio filters by exact name already; checking again costs
		// nothing and keeps the main account out whatever its name.
		if a.FriendlyName == name && a.SID != c.sid && a.OwnerSID == c.sid {
			matches = append(matches, a)
		}
	}
	if len(matches) == 0 {
		return Account{}, false, nil
	}
	sort.Slice(matches, func(i, j int) bool { return older(matches[i], matches[j]) })
	return matches[0], true, nil
}

// older orders accounts by creation, then SID: the same order for every
// caller, so racing callers pick the same account.
func older(a, b Account) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	return a.SID < b.SID
}

// Fetch returns the account sid.
//
// Errors: ErrRejected for a malformed sid; ErrNotFound; any kind from Twilio.
func (c *Client) Fetch(ctx context.Context, sid string) (Account, error) {
	const op = "fetch account"
	if !validSID(sid) {
		return Account{}, rejected(op, "account sid %q is not AC followed by 32 hex digits", sid)
	}
	call := c.newCall(ctx)
	a, err := call.api.FetchAccount(sid)
	if err != nil {
		return Account{}, classify(ctx, op, call.ex, err)
	}
	return fromAPI(op, a)
}

// Suspend suspends the sub-account sid; a suspended one is left as it is.
//
// Errors: ErrClosed when it is closed; ErrNotFound; any kind from Twilio.
func (c *Client) Suspend(ctx context.Context, sid string) (Account, error) {
	return c.setStatus(ctx, "suspend account", sid, StatusSuspended)
}

// Reopen makes the suspended sub-account sid active again; an active one is
// left as it is.
//
// Errors: ErrClosed when it is closed (Twilio never reopens a closed
// account); ErrNotFound; any kind from Twilio.
func (c *Client) Reopen(ctx context.Context, sid string) (Account, error) {
	return c.setStatus(ctx, "reopen account", sid, StatusActive)
}

// Close closes the sub-account sid for good; a closed one is left as it is,
// so retries succeed.
//
// Errors: ErrNotFound; any kind from Twilio.
func (c *Client) Close(ctx context.Context, sid string) (Account, error) {
	return c.setStatus(ctx, "close account", sid, StatusClosed)
}

// setStatus sets the account's status with one update, no read first:
// the customer record already knows the sub-account, and Twilio accepts
// the status an account already has (a repeated call changes nothing).
// A closed account refuses any change with code 21479, which is
// ErrClosed; closing one is then done already.
func (c *Client) setStatus(ctx context.Context, op, sid string, to Status) (Account, error) {
	if !validSID(sid) {
		return Account{}, rejected(op, "account sid %q is not AC followed by 32 hex digits", sid)
	}
	if sid == c.sid {
		return Account{}, rejected(op, "%s is the main account, not a sub-account", sid)
	}
	call := c.newCall(ctx)
	updated, err := call.api.UpdateAccount(sid, (&twapi.UpdateAccountParams{}).SetStatus(string(to)))
	if err != nil {
		err = classify(ctx, op, call.ex, err)
		if to == StatusClosed && errors.Is(err, ErrClosed) { // closed already
			return Account{SID: sid, Status: StatusClosed}, nil
		}
		return Account{}, err
	}
	return fromAPI(op, updated)
}

func checkedName(op, customerID string) (string, error) {
	name := SubaccountName(customerID)
	switch {
	case customerID == "":
		return "", rejected(op, "customer id is empty")
	case len(name) > maxNameLen:
		return "", rejected(op, "customer id is too long for a Twilio FriendlyName (%d characters at most)", maxNameLen-len(namePrefix))
	case strings.ContainsAny(customerID, ". \t\r\n"):
		// twilio-go strips ".<digits>" from list queries, so such a
		// name could never be found again.
		return "", rejected(op, "customer id %q holds a dot or a space", customerID)
	}
	return name, nil
}

// fromAPI converts twilio-go's account. A response without a SID is a
// garbled response, so it counts as transient.
func fromAPI(op string, a *twapi.ApiV2010Account) (Account, error) {
	if a == nil || a.Sid == nil || *a.Sid == "" {
		return Account{}, &Error{Op: op, Kind: ErrTransient, Message: "response holds no account sid"}
	}
	return Account{
		SID:          *a.Sid,
		OwnerSID:     deref(a.OwnerAccountSid),
		FriendlyName: deref(a.FriendlyName),
		Status:       Status(deref(a.Status)),
		Created:      parseDate(deref(a.DateCreated)),
		Updated:      parseDate(deref(a.DateUpdated)),
	}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// parseDate reads the RFC 2822 dates of the 2010-04-01 API.
func parseDate(s string) time.Time {
	t, err := time.Parse(time.RFC1123Z, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
