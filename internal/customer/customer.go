// Package customer is the Customer aggregate: its states, transitions,
// versions and validation rules. Both the gateway (early, friendly errors)
// and the provisioner (authoritative, also for commands published straight
// onto NATS) use it, so each rule lives here once.
package customer

import (
	"strconv"
	"time"
)

// Status is where a Customer is in its lifecycle.
type Status string

// The lifecycle: REGISTERED → ACTIVE ⇄ DEACTIVATED, any → TERMINATED (final).
const (
	StatusRegistered  Status = "REGISTERED"
	StatusActive      Status = "ACTIVE"
	StatusDeactivated Status = "DEACTIVATED"
	StatusTerminated  Status = "TERMINATED"
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusRegistered, StatusActive, StatusDeactivated, StatusTerminated:
		return true
	}
	return false
}

// Customer is one partner's customer. Its fields change only through the
// transition methods, which return sentinel-coded errors and leave the
// customer untouched when they refuse.
type Customer struct {
	id          string
	partnerID   string
	industryID  string
	space       string
	label       string
	status      Status
	version     int64
	twilioSID   string
	contact     string // transit ciphertext of the JSON ContactInfo; "" when none
	retention   *Retention
	createdAt   time.Time
	updatedAt   time.Time
	activatedAt time.Time
	terminated  time.Time
}

// New registers a customer. Every field is validated; all field errors are
// returned together as ValidationErrors.
func New(id, partnerID, industryID, space, label string, now time.Time) (*Customer, error) {
	var errs ValidationErrors
	errs.Add(ValidateID("id", id))
	errs.Add(ValidateID("partnerId", partnerID))
	errs.Add(ValidateID("industryId", industryID))
	errs.Add(ValidateSpace(space))
	label, err := NormalizeLabel(label)
	errs.Add(err)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	now = now.UTC()
	return &Customer{
		id: id, partnerID: partnerID, industryID: industryID, space: space, label: label,
		status: StatusRegistered, createdAt: now, updatedAt: now,
	}, nil
}

// ID returns the customer id (a UUID).
func (c *Customer) ID() string { return c.id }

// PartnerID returns the owning partner's id.
func (c *Customer) PartnerID() string { return c.partnerID }

// IndustryID returns the industry's id.
func (c *Customer) IndustryID() string { return c.industryID }

// Space returns the unique slug.
func (c *Customer) Space() string { return c.space }

// Label returns the display label.
func (c *Customer) Label() string { return c.label }

// Status returns the lifecycle status.
func (c *Customer) Status() Status { return c.status }

// Version returns the number of commands applied to the customer.
func (c *Customer) Version() int64 { return c.version }

// TwilioSID returns the sub-account SID, "" before it is known.
func (c *Customer) TwilioSID() string { return c.twilioSID }

// ContactCiphertext returns the sealed contact info, "" when none was set.
func (c *Customer) ContactCiphertext() string { return c.contact }

// Retention returns the retention chosen at termination, nil before.
func (c *Customer) Retention() *Retention { return c.retention }

// CreatedAt returns when the customer was registered.
func (c *Customer) CreatedAt() time.Time { return c.createdAt }

// UpdatedAt returns when the last command was applied.
func (c *Customer) UpdatedAt() time.Time { return c.updatedAt }

// TerminatedAt returns when the customer was terminated, zero before.
func (c *Customer) TerminatedAt() time.Time { return c.terminated }

// CheckVersion returns ErrVersionConflict when expected is set and differs
// from the current version. nil means "any version".
func (c *Customer) CheckVersion(expected *int64) error {
	if expected == nil || *expected == c.version {
		return nil
	}
	return &Error{Code: CodeVersionConflict, Field: "expectedVersion",
		Message: "expected version " + itoa(*expected) + " but the customer is at version " + itoa(c.version)}
}

// AttachSubaccount records the Twilio sub-account created for the customer.
func (c *Customer) AttachSubaccount(sid string) error {
	if c.twilioSID != "" && c.twilioSID != sid {
		return Errorf(CodeConflict, "customer already has sub-account %s", c.twilioSID)
	}
	c.twilioSID = sid
	return nil
}

// Activate moves a REGISTERED or DEACTIVATED customer to ACTIVE.
func (c *Customer) Activate(now time.Time) error {
	switch c.status {
	case StatusRegistered, StatusDeactivated:
	default:
		return c.transitionError("activate")
	}
	c.status = StatusActive
	if c.activatedAt.IsZero() {
		c.activatedAt = now.UTC()
	}
	c.touch(now)
	return nil
}

// Deactivate moves an ACTIVE customer to DEACTIVATED.
func (c *Customer) Deactivate(now time.Time) error {
	if c.status != StatusActive {
		return c.transitionError("deactivate")
	}
	c.status = StatusDeactivated
	c.touch(now)
	return nil
}

// CanUpdateContactInfo reports whether contact info may change now: once
// the customer was activated (ACTIVE or DEACTIVATED), never after
// termination. Callers check it before sealing new contact info.
func (c *Customer) CanUpdateContactInfo() error {
	if c.status != StatusActive && c.status != StatusDeactivated {
		return c.transitionError("update the contact info of")
	}
	return nil
}

// UpdateContactInfo replaces the sealed contact info, under the rule of
// CanUpdateContactInfo.
func (c *Customer) UpdateContactInfo(ciphertext string, now time.Time) error {
	if err := c.CanUpdateContactInfo(); err != nil {
		return err
	}
	if ciphertext == "" {
		return Invalid("contactInfo", "sealed contact info is empty")
	}
	c.contact = ciphertext
	c.touch(now)
	return nil
}

// Terminate ends the customer for good with the given retention.
func (c *Customer) Terminate(r Retention, now time.Time) error {
	if c.status == StatusTerminated {
		return c.transitionError("terminate")
	}
	c.status = StatusTerminated
	c.retention = &r
	c.terminated = now.UTC()
	c.touch(now)
	return nil
}

func (c *Customer) touch(now time.Time) { c.updatedAt = now.UTC() }

func (c *Customer) transitionError(verb string) error {
	msg := "cannot " + verb + " a customer that is " + string(c.status)
	switch verb {
	case "activate":
		msg += "; only REGISTERED or DEACTIVATED customers can be activated"
	case "deactivate":
		msg += "; only ACTIVE customers can be deactivated"
	case "terminate":
		msg += "; termination is final"
	default:
		msg += "; contact info can be changed while ACTIVE or DEACTIVATED"
	}
	return &Error{Code: CodeInvalidTransition, Message: msg}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
