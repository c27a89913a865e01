// Package command defines the wire format of TextKit Customers on NATS: the
// commands partners and the gateway publish, the outcomes the provisioner
// answers with, and the events it emits. It is a public, versioned
// contract (docs/commands.md and docs/schemas/ describe it for partners);
// change it only by adding a new version.
package command

import (
	"encoding/json"
	"time"

	"github.com/textkit/customers/internal/customer"
)

// WireVersion is the version of the command, outcome and event formats.
const WireVersion = 1

// Type names a command.
type Type string

// The commands, one per GraphQL mutation.
const (
	Register          Type = "customer.register"
	Activate          Type = "customer.activate"
	UpdateContactInfo Type = "customer.updateContactInfo"
	Deactivate        Type = "customer.deactivate"
	Terminate         Type = "customer.terminate"
)

// Types lists every known command type.
var Types = []Type{Register, Activate, UpdateContactInfo, Deactivate, Terminate}

// Known reports whether t is a command type of this wire version.
func (t Type) Known() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// Command is one request to change one customer. Its ID is the command id:
// it is sent as the Nats-Msg-Id header (JetStream de-duplication) and is
// the idempotency key in Redis, so publishing the same command twice
// applies it once.
type Command struct {
	Version    int    `json:"version"`
	ID         string `json:"id"`
	Type       Type   `json:"type"`
	CustomerID string `json:"customerId"`
	PartnerID  string `json:"partnerId"`
	// ExpectedVersion, when set, makes the command apply only if the
	// customer is at exactly that version. Absent or null means any.
	ExpectedVersion *int64 `json:"expectedVersion,omitempty"`
	// Actor says who asked, for the customer's history: "partner:<id>" or
	// "operator:<name>" from the gateway. Commands published directly
	// are recorded as "nats:<partnerId>" whatever they say here.
	Actor    string          `json:"actor,omitempty"`
	IssuedAt time.Time       `json:"issuedAt,omitzero"`
	Payload  json.RawMessage `json:"payload,omitempty"`
}

// RegisterPayload is the payload of customer.register.
type RegisterPayload struct {
	Space      string `json:"space"`
	IndustryID string `json:"industryId"`
	Label      string `json:"label"`
}

// ContactInfoPayload is the payload of customer.updateContactInfo. Exactly
// one of its fields is set: the gateway sends Sealed (transit ciphertext
// made with the customer's key, so no plaintext reaches JetStream); a
// partner publishing directly may send plaintext ContactInfo, which the
// provisioner seals before storing it.
type ContactInfoPayload struct {
	ContactInfo *customer.ContactInfo `json:"contactInfo,omitempty"`
	Sealed      string                `json:"sealed,omitempty"`
}

// TerminatePayload is the payload of customer.terminate.
type TerminatePayload struct {
	Retention RetentionInput `json:"retention"`
}

// RetentionInput is the retention as sent: the strategy's name and an
// optional period in months (required for TEMPORARY only).
type RetentionInput struct {
	Strategy string `json:"strategy"`
	Period   *int   `json:"period,omitempty"`
}

// OutcomeStatus says whether a command changed anything.
type OutcomeStatus string

// Outcome statuses.
const (
	Applied  OutcomeStatus = "APPLIED"  // the command changed the customer; its version went up by one
	Rejected OutcomeStatus = "REJECTED" // nothing changed; Errors says why
)

// Outcome is the provisioner's final answer to a command. It is stored in
// Redis under the command id (so a redelivered or republished command gets
// the same answer) and published on OutcomeSubject.
type Outcome struct {
	Version         int               `json:"version"`
	CommandID       string            `json:"commandId"`
	Type            Type              `json:"type,omitempty"`
	CustomerID      string            `json:"customerId,omitempty"`
	PartnerID       string            `json:"partnerId,omitempty"`
	Status          OutcomeStatus     `json:"status"`
	CustomerVersion int64             `json:"customerVersion,omitempty"`
	Event           EventType         `json:"event,omitempty"`
	Errors          []*customer.Error `json:"errors,omitempty"`
	// Retryable marks a rejection for a passing reason (code UNAVAILABLE):
	// the same command id, sent again, is processed again instead of
	// getting this outcome back.
	Retryable   bool      `json:"retryable,omitempty"`
	ProcessedAt time.Time `json:"processedAt"`
}

// Err returns the outcome's errors as one error, nil when applied.
func (o *Outcome) Err() error {
	if o.Status == Applied {
		return nil
	}
	switch len(o.Errors) {
	case 0:
		return customer.Errorf(customer.CodeInternal, "command rejected without a reason")
	case 1:
		return o.Errors[0]
	}
	return customer.ValidationErrors(o.Errors)
}

// EventType names what happened to a customer.
type EventType string

// Events, one per applied command, and the key lifecycle events retention
// publishes.
const (
	Registered         EventType = "customer.registered"
	Activated          EventType = "customer.activated"
	ContactInfoUpdated EventType = "customer.contactInfoUpdated"
	Deactivated        EventType = "customer.deactivated"
	Terminated         EventType = "customer.terminated"

	KeyCreated   EventType = "customer.key.created"
	KeyScheduled EventType = "customer.key.scheduled"
	KeyDestroyed EventType = "customer.key.destroyed"
)

// EventOf returns the event an applied command of type t records.
func EventOf(t Type) EventType {
	switch t {
	case Register:
		return Registered
	case Activate:
		return Activated
	case UpdateContactInfo:
		return ContactInfoUpdated
	case Deactivate:
		return Deactivated
	case Terminate:
		return Terminated
	}
	return ""
}

// Event records one change to a customer. Events never carry personal
// data: no contact info, not even as ciphertext.
type Event struct {
	Version         int       `json:"version"`
	ID              string    `json:"id"`
	Type            EventType `json:"type"`
	CustomerID      string    `json:"customerId"`
	PartnerID       string    `json:"partnerId"`
	CustomerVersion int64     `json:"customerVersion,omitempty"`
	CommandID       string    `json:"commandId,omitempty"`
	Actor           string    `json:"actor,omitempty"`
	OccurredAt      time.Time `json:"occurredAt"`
	// Status is the customer's status after the event.
	Status customer.Status `json:"status,omitempty"`
	// Retention is set on customer.terminated.
	Retention *customer.Retention `json:"retention,omitempty"`
	// Reason and At are set on key events: why the key was destroyed or
	// scheduled, and when it is (or was) destroyed.
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at,omitzero"`
}
