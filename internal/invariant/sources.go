package invariant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
)

// Sources read the final state of a stack. Live reads a real one.
type Sources interface {
	// Customer returns the stored customer, nil when there is none.
	Customer(ctx context.Context, id string) (*customer.Snapshot, error)
	// History returns the customer's history, oldest first.
	History(ctx context.Context, id string) ([]redisstore.HistoryEntry, error)
	// Outcome returns the stored outcome of a command, nil when none.
	Outcome(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error)
	// Pending returns every command the gateway recorded as published.
	Pending(ctx context.Context) ([]redisstore.Pending, error)
	// KeyRecord returns retention's record of the customer's key.
	KeyRecord(ctx context.Context, id string) (keys.Record, error)
	// KeyExists reports whether Vault has the customer's key.
	KeyExists(ctx context.Context, id string) (bool, error)
	// Subaccounts returns every Twilio sub-account.
	Subaccounts(ctx context.Context) ([]Subaccount, error)
	// Waiting returns the commands still in the command stream, by customer.
	Waiting(ctx context.Context) (map[string]uint64, error)
	// DeadLetters returns every dead letter.
	DeadLetters(ctx context.Context) ([]command.DeadLetter, error)
}

// Subaccount is a Twilio sub-account as the emulator lists it.
type Subaccount struct {
	SID          string `json:"sid"`
	OwnerSID     string `json:"owner_account_sid"`
	FriendlyName string `json:"friendly_name"`
	Status       string `json:"status"`
}

// KeyReader tells whether a customer's key exists (*vault.Client with a
// token that may read transit keys: gateway's, provisioner's or retention's).
type KeyReader interface {
	KeyStatus(ctx context.Context, customerID string) (bool, error)
}

// Emulator is how Live reaches the Twilio emulator: its base URL and its
// main account's credentials (GET /_emulator/accounts needs them).
type Emulator struct {
	URL        string
	AccountSID string
	AuthToken  string
	// Client is the HTTP client; http.DefaultClient when nil.
	Client *http.Client
}

// Live reads the final state of a running stack.
type Live struct {
	Store     *redisstore.Store
	Keys      KeyReader
	Twilio    Emulator
	JetStream jetstream.JetStream
}

var _ Sources = (*Live)(nil)

// Customer implements Sources.
func (l *Live) Customer(ctx context.Context, id string) (*customer.Snapshot, error) {
	c, err := l.Store.Get(ctx, id)
	if customer.ErrorCode(err) == customer.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := c.Snapshot()
	return &s, nil
}

// History implements Sources.
func (l *Live) History(ctx context.Context, id string) ([]redisstore.HistoryEntry, error) {
	return l.Store.History(ctx, id)
}

// Outcome implements Sources.
func (l *Live) Outcome(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error) {
	return l.Store.Outcome(ctx, partnerID, customerID, commandID)
}

// Pending implements Sources: it scans the gateway's pending records
// (every master of a Redis Cluster).
func (l *Live) Pending(ctx context.Context) ([]redisstore.Pending, error) {
	return l.Store.PendingCommands(ctx)
}

// KeyRecord implements Sources.
func (l *Live) KeyRecord(ctx context.Context, id string) (keys.Record, error) {
	return l.Store.KeyStatus(ctx, id)
}

// KeyExists implements Sources.
func (l *Live) KeyExists(ctx context.Context, id string) (bool, error) {
	return l.Keys.KeyStatus(ctx, id)
}

// Subaccounts implements Sources through the emulator's control API.
func (l *Live) Subaccounts(ctx context.Context) ([]Subaccount, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(l.Twilio.URL, "/")+"/_emulator/accounts", nil)
	if err != nil {
		return nil, fmt.Errorf("twilio accounts: %w", err)
	}
	req.SetBasicAuth(l.Twilio.AccountSID, l.Twilio.AuthToken)
	hc := l.Twilio.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("twilio accounts: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read only
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("twilio accounts: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("twilio accounts: status %d", resp.StatusCode)
	}
	var doc struct {
		Accounts []Subaccount `json:"accounts"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("twilio accounts: %w", err)
	}
	subs := doc.Accounts[:0]
	for _, a := range doc.Accounts {
		if a.SID != a.OwnerSID {
			subs = append(subs, a)
		}
	}
	return subs, nil
}

// Waiting implements Sources: the command stream is a work queue, so a
// message still in it has not been processed.
func (l *Live) Waiting(ctx context.Context) (map[string]uint64, error) {
	s, err := l.JetStream.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		return nil, fmt.Errorf("command stream: %w", err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		return nil, fmt.Errorf("command stream info: %w", err)
	}
	out := map[string]uint64{}
	for subject, n := range info.State.Subjects {
		_, cust, ok := command.SubjectIDs(subject)
		if !ok {
			cust = subject
		}
		out[cust] += n
	}
	return out, nil
}

// DeadLetters implements Sources: it reads the whole dead-letter stream.
func (l *Live) DeadLetters(ctx context.Context) ([]command.DeadLetter, error) {
	s, err := l.JetStream.Stream(ctx, natsbus.DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	var out []command.DeadLetter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dead letter %d: %w", seq, err)
		}
		var dl command.DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			return nil, fmt.Errorf("dead letter %d: %w", seq, err)
		}
		out = append(out, dl)
	}
	return out, nil
}

// timeout bounds one check's reads, so that a source that hangs is an error.
const timeout = 2 * time.Minute
