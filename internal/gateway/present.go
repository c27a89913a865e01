package gateway

import (
	"strings"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/gateway/model"
)

// customerOf returns the API view of c. Its contact info, key and history
// are left to their field resolvers, which read them only when selected.
func customerOf(c *customer.Customer) *model.Customer {
	s := c.Snapshot()
	out := &model.Customer{
		ID: s.ID, PartnerID: s.PartnerID, IndustryID: s.IndustryID, Space: s.Space, Label: s.Label,
		Status: model.CustomerStatus(s.Status), Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		ContactCiphertext: s.ContactCiphertext,
	}
	if s.TwilioSID != "" {
		sid := s.TwilioSID
		out.TwilioSubaccountSid = &sid
	}
	if s.Retention != nil {
		r := &model.Retention{Strategy: model.RetentionStrategy(s.Retention.Strategy)}
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

// userErrorsOf turns domain errors into user errors, with field names as
// the GraphQL input spells them (the wire's payload. prefix dropped).
func userErrorsOf(errs []*customer.Error) []*model.UserError {
	out := make([]*model.UserError, 0, len(errs))
	for _, e := range errs {
		ue := &model.UserError{Message: e.Message, Code: string(e.Code)}
		if f := graphQLField(e.Field); f != "" {
			ue.Field = &f
		}
		out = append(out, ue)
	}
	return out
}

// graphQLField maps a wire field path to the GraphQL input's spelling.
func graphQLField(f string) string {
	f = strings.TrimPrefix(f, "payload.")
	f = strings.TrimPrefix(f, "contactInfo.")
	return f
}
