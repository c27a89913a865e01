// Package model holds the gateway's GraphQL types: the hand-written ones
// here, and those gqlgen generates (models_gen.go).
package model

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/textkit/customers/internal/customer"
)

// ExpectedVersion is the ExpectedVersion scalar: nil Version means ANY.
type ExpectedVersion struct {
	Version *int64
}

// Any is the ExpectedVersion that accepts any version.
var Any = ExpectedVersion{}

// UnmarshalGQL accepts ANY (as an enum-like literal or a string) or a
// non-negative integer.
func (e *ExpectedVersion) UnmarshalGQL(v any) error {
	switch x := v.(type) {
	case string:
		if x == "ANY" {
			*e = Any
			return nil
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil && n >= 0 {
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case json.Number:
		if n, err := x.Int64(); err == nil && n >= 0 {
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case int:
		if x >= 0 {
			n := int64(x)
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case int64:
		if x >= 0 {
			*e = ExpectedVersion{Version: &x}
			return nil
		}
	case float64:
		if x >= 0 && x == float64(int64(x)) && x < 1<<53 {
			n := int64(x)
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case nil:
		*e = Any
		return nil
	}
	return customer.Invalid("expectedVersion", "must be ANY or a non-negative integer version, got %s", describe(v))
}

func describe(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	switch v.(type) {
	case string:
		return strconv.Quote(s)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	}
	return s
}

// MarshalGQL writes ANY or the number.
func (e ExpectedVersion) MarshalGQL(w io.Writer) {
	if e.Version == nil {
		io.WriteString(w, strconv.Quote("ANY"))
		return
	}
	io.WriteString(w, strconv.FormatInt(*e.Version, 10))
}

// Customer is a customer as the API shows it. The resolvers of its
// contact info, key and history read them lazily, only when selected.
type Customer struct {
	ID                  string         `json:"id"`
	PartnerID           string         `json:"partnerId"`
	IndustryID          string         `json:"industryId"`
	Space               string         `json:"space"`
	Label               string         `json:"label"`
	Status              CustomerStatus `json:"status"`
	Version             int64          `json:"version"`
	TwilioSubaccountSid *string        `json:"twilioSubaccountSid,omitempty"`
	Retention           *Retention     `json:"retention,omitempty"`
	CreatedAt           time.Time      `json:"createdAt"`
	UpdatedAt           time.Time      `json:"updatedAt"`
	ActivatedAt         *time.Time     `json:"activatedAt,omitempty"`
	TerminatedAt        *time.Time     `json:"terminatedAt,omitempty"`

	// ContactCiphertext is the sealed contact info, never shown.
	ContactCiphertext string `json:"-"`

	contactOnce   sync.Once
	contact       *ContactInfo
	contactStatus ContactInfoStatus
}

// Contact returns the decrypted contact info, computing it with decrypt
// once per Customer value (that is, once per request).
func (c *Customer) Contact(decrypt func() (*ContactInfo, ContactInfoStatus)) (*ContactInfo, ContactInfoStatus) {
	c.contactOnce.Do(func() { c.contact, c.contactStatus = decrypt() })
	return c.contact, c.contactStatus
}

// NewCustomer returns the API view of c.
func NewCustomer(c *customer.Customer) *Customer {
	s := c.Snapshot()
	out := &Customer{
		ID: s.ID, PartnerID: s.PartnerID, IndustryID: s.IndustryID, Space: s.Space, Label: s.Label,
		Status: CustomerStatus(s.Status), Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		ContactCiphertext: s.ContactCiphertext,
	}
	if s.TwilioSID != "" {
		sid := s.TwilioSID
		out.TwilioSubaccountSid = &sid
	}
	if s.Retention != nil {
		r := &Retention{Strategy: RetentionStrategy(s.Retention.Strategy)}
		if s.Retention.Strategy == customer.Temporary {
			p := int64(s.Retention.Period)
			r.Period = &p
		}
		out.Retention = r
	}
	if !s.ActivatedAt.IsZero() {
		t := s.ActivatedAt
		out.ActivatedAt = &t
	}
	if !s.TerminatedAt.IsZero() {
		t := s.TerminatedAt
		out.TerminatedAt = &t
	}
	return out
}

// UserErrorsOf turns domain errors into user errors, with field names as
// the GraphQL input spells them (the wire's payload. prefix dropped).
func UserErrorsOf(errs []*customer.Error) []*UserError {
	out := make([]*UserError, 0, len(errs))
	for _, e := range errs {
		ue := &UserError{Message: e.Message, Code: string(e.Code)}
		if f := GraphQLField(e.Field); f != "" {
			ue.Field = &f
		}
		out = append(out, ue)
	}
	return out
}

// GraphQLField maps a wire field path to the GraphQL input's spelling.
func GraphQLField(f string) string {
	f = strings.TrimPrefix(f, "payload.")
	f = strings.TrimPrefix(f, "contactInfo.")
	return f
}
