// Package ledger is the record of every command a load run sent: a
// JSON-lines file with one header line, then one line per command attempt,
// written when the attempt was answered (or gave up). It is the contract
// between the load tool (internal/load), which writes it, and the invariant
// checker, which compares it with what the stack holds:
//
//   - APPLIED: the client was told the command succeeded; it must be in the
//     customer's history exactly once.
//   - REJECTED and ERROR: the client was told it failed; it must never be
//     applied.
//   - TIMEOUT: the outcome is unknown to the client; command(id) must tell
//     the truth, and the command is applied at most once.
//
// docs/load.md describes the fields for people.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/textkit/customers/internal/command"
)

// Version is the ledger format version written in the header.
const Version = 1

// Line kinds.
const (
	KindHeader  = "header"
	KindCommand = "command"
)

// Targets: how the load tool reached the stack.
const (
	ViaGraphQL = "graphql"
	ViaNATS    = "nats"
)

// Type names a command type as the ledger writes it.
type Type string

// The command types.
const (
	Register          Type = "REGISTER"
	Activate          Type = "ACTIVATE"
	Deactivate        Type = "DEACTIVATE"
	UpdateContactInfo Type = "UPDATE_CONTACT_INFO"
	Terminate         Type = "TERMINATE"
)

// Types lists every command type.
var Types = []Type{Register, Activate, Deactivate, UpdateContactInfo, Terminate}

// Answer is what the client was told.
type Answer string

// The answers.
const (
	// Applied: the client was told the command succeeded.
	Applied Answer = "APPLIED"
	// Rejected: the stack answered that the command changed nothing.
	Rejected Answer = "REJECTED"
	// Timeout: the client does not know whether the command was applied.
	Timeout Answer = "TIMEOUT"
	// Error: the request failed before the command could be applied (for
	// example RATE_LIMITED or UNAVAILABLE before publishing); it must not
	// be applied.
	Error Answer = "ERROR"
)

// Answers lists every answer.
var Answers = []Answer{Applied, Rejected, Timeout, Error}

// Duration is a time.Duration written as Go writes durations ("10s").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string such as "10s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string such as "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// Header is the ledger's first line: what the run was.
type Header struct {
	Kind      string    `json:"kind"`
	Version   int       `json:"version"`
	StartedAt time.Time `json:"startedAt"`
	// Target is ViaGraphQL or ViaNATS.
	Target string `json:"target"`
	// Mix is the name of the command mix (e.g. "lifecycle", "hot").
	Mix       string `json:"mix"`
	PartnerID string `json:"partnerId"`
	// MutationTimeout is how long one command waited for its answer
	// before the client gave up with TIMEOUT.
	MutationTimeout Duration `json:"mutationTimeout"`
}

// Record is one command attempt and its answer.
type Record struct {
	Kind string `json:"kind"`
	// Seq numbers the attempts in the order they were sent, from 1.
	Seq int64 `json:"seq"`
	// Worker is the load worker that sent it.
	Worker int `json:"worker"`
	// Via is ViaGraphQL or ViaNATS.
	Via        string `json:"via"`
	CustomerID string `json:"customerId"`
	PartnerID  string `json:"partnerId"`
	Type       Type   `json:"type"`
	// CommandID is empty when the client cannot know it (a GraphQL
	// request that failed before the gateway named the command).
	CommandID string `json:"commandId"`
	// IdempotencyKey is the Idempotency-Key header (GraphQL).
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Field is the GraphQL mutation field, e.g. "activateCustomer".
	Field           string `json:"field,omitempty"`
	ExpectedVersion *int64 `json:"expectedVersion,omitempty"`
	// Retention is the strategy of a TERMINATE: IMMEDIATE, TEMPORARY, ….
	Retention string `json:"retention,omitempty"`
	// DestroyAt is when the answer says the customer's key is destroyed.
	DestroyAt time.Time `json:"destroyAt,omitzero"`
	// IntendedAt is when the command was scheduled to be sent (open
	// model); in the closed model it equals SentAt. Latency counts from
	// here.
	IntendedAt time.Time `json:"intendedAt"`
	SentAt     time.Time `json:"sentAt"`
	AnsweredAt time.Time `json:"answeredAt"`
	Answer     Answer    `json:"answer"`
	// Code is the error code of the answer (VERSION_CONFLICT,
	// RATE_LIMITED, UNAVAILABLE, TIMEOUT, …), empty when applied.
	Code      string `json:"code"`
	Retryable bool   `json:"retryable"`
	// Message is the answer's error message, for people.
	Message string `json:"message,omitempty"`
	// CustomerVersion is the customer's version the answer reports.
	CustomerVersion *int64 `json:"customerVersion,omitempty"`
	// Ordered is false when the tool deliberately sent this command
	// concurrently with other commands of the same customer (the hot
	// mix): then only multiset checks apply to that customer.
	Ordered bool `json:"ordered"`
}

// Latency is the time from the intended send time to the answer.
func (r *Record) Latency() time.Duration {
	return r.AnsweredAt.Sub(r.IntendedAt)
}

// Known reports whether t is one of Types.
func (t Type) Known() bool { return slices.Contains(Types, t) }

// Known reports whether a is one of Answers.
func (a Answer) Known() bool { return slices.Contains(Answers, a) }

// Validate reports what is wrong with a header.
func (h *Header) Validate() error {
	var errs []error
	if h.Kind != KindHeader {
		errs = append(errs, fmt.Errorf("header kind is %q, want %q", h.Kind, KindHeader))
	}
	if h.Version != Version {
		errs = append(errs, fmt.Errorf("ledger version %d, this reader knows %d", h.Version, Version))
	}
	if h.Target != ViaGraphQL && h.Target != ViaNATS {
		errs = append(errs, fmt.Errorf("target %q is neither %q nor %q", h.Target, ViaGraphQL, ViaNATS))
	}
	if h.StartedAt.IsZero() {
		errs = append(errs, errors.New("startedAt is missing"))
	}
	return errors.Join(errs...)
}

// Validate reports what is wrong with a record.
func (r *Record) Validate() error {
	var errs []error
	if r.Kind != KindCommand {
		errs = append(errs, fmt.Errorf("kind is %q, want %q", r.Kind, KindCommand))
	}
	if r.Seq <= 0 {
		errs = append(errs, fmt.Errorf("seq %d is not positive", r.Seq))
	}
	if r.Via != ViaGraphQL && r.Via != ViaNATS {
		errs = append(errs, fmt.Errorf("via %q is neither %q nor %q", r.Via, ViaGraphQL, ViaNATS))
	}
	if r.CustomerID == "" {
		errs = append(errs, errors.New("customerId is missing"))
	}
	if !r.Type.Known() {
		errs = append(errs, fmt.Errorf("unknown command type %q", r.Type))
	}
	if !r.Answer.Known() {
		errs = append(errs, fmt.Errorf("unknown answer %q", r.Answer))
	}
	if r.Answer == Applied && r.CommandID == "" && r.Via == ViaNATS {
		errs = append(errs, errors.New("an applied NATS command has no commandId"))
	}
	if r.SentAt.IsZero() || r.AnsweredAt.IsZero() || r.IntendedAt.IsZero() {
		errs = append(errs, errors.New("intendedAt, sentAt and answeredAt are required"))
	}
	return errors.Join(errs...)
}

// FromCommand returns the ledger type of a wire command type, "" for an
// unknown one.
func FromCommand(t command.Type) Type {
	switch t {
	case command.Register:
		return Register
	case command.Activate:
		return Activate
	case command.Deactivate:
		return Deactivate
	case command.UpdateContactInfo:
		return UpdateContactInfo
	case command.Terminate:
		return Terminate
	}
	return ""
}

// Command returns the wire command type of t, "" for an unknown one.
func (t Type) Command() command.Type {
	for _, c := range command.Types {
		if FromCommand(c) == t {
			return c
		}
	}
	return ""
}
