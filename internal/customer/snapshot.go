package customer

import "time"

// ContactInfo is a customer's business contact details, in plaintext. It
// only ever exists in memory: at rest it is sealed with the customer's
// transit key (see Customer.ContactCiphertext).
type ContactInfo struct {
	BusinessName  string `json:"businessName"`
	SecondaryName string `json:"secondaryName,omitempty"`
	PhoneNumber   string `json:"phoneNumber"`
	AddressLine1  string `json:"addressLine1"`
	AddressLine2  string `json:"addressLine2,omitempty"`
	PostalCode    string `json:"postalCode"`
	Province      string `json:"province"`
	Country       string `json:"country"`
}

// Strategy says what happens to a terminated customer's encryption key.
type Strategy string

// Retention strategies, as the spec names them.
const (
	NoRetention Strategy = "NO_RETENTION" // destroy the key at termination
	Temporary   Strategy = "TEMPORARY"    // destroy it Period calendar months later
	Indefinite  Strategy = "INDEFINITE"   // keep it
)

// Retention is the strategy chosen at termination. Period (months) is set
// only for TEMPORARY.
type Retention struct {
	Strategy Strategy `json:"strategy"`
	Period   int      `json:"period,omitempty"`
}

// Snapshot is the customer's persisted form. Adapters store and load it;
// only this package turns it back into a Customer.
type Snapshot struct {
	ID                string     `json:"id"`
	PartnerID         string     `json:"partnerId"`
	IndustryID        string     `json:"industryId"`
	Space             string     `json:"space"`
	Label             string     `json:"label"`
	Status            Status     `json:"status"`
	Version           int64      `json:"version"`
	TwilioSID         string     `json:"twilioSid,omitempty"`
	ContactCiphertext string     `json:"contactCiphertext,omitempty"`
	Retention         *Retention `json:"retention,omitempty"`
	CreatedAt         time.Time  `json:"createdAt"`
	UpdatedAt         time.Time  `json:"updatedAt"`
	ActivatedAt       time.Time  `json:"activatedAt,omitzero"`
	TerminatedAt      time.Time  `json:"terminatedAt,omitzero"`
}

// Snapshot returns the customer's persisted form.
func (c *Customer) Snapshot() Snapshot {
	return Snapshot{
		ID: c.id, PartnerID: c.partnerID, IndustryID: c.industryID, Space: c.space,
		Label: c.label, Status: c.status, Version: c.version, TwilioSID: c.twilioSID,
		ContactCiphertext: c.contact, Retention: c.retention, CreatedAt: c.createdAt,
		UpdatedAt: c.updatedAt, ActivatedAt: c.activatedAt, TerminatedAt: c.terminated,
	}
}

// FromSnapshot restores a customer that was stored earlier. It trusts the
// snapshot's field values (they were validated when written) but refuses
// an unknown status, which would mean a corrupted record.
func FromSnapshot(s Snapshot) (*Customer, error) {
	if !s.Status.Valid() || s.ID == "" {
		return nil, Errorf(CodeInternal, "corrupted customer record %q", s.ID)
	}
	return &Customer{
		id: s.ID, partnerID: s.PartnerID, industryID: s.IndustryID, space: s.Space,
		label: s.Label, status: s.Status, version: s.Version, twilioSID: s.TwilioSID,
		contact: s.ContactCiphertext, retention: s.Retention, createdAt: s.CreatedAt,
		updatedAt: s.UpdatedAt, activatedAt: s.ActivatedAt, terminated: s.TerminatedAt,
	}, nil
}
