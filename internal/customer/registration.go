package customer

import (
	"context"
	"fmt"
)

// References is the data a registration is checked against. Each method
// returns an error only when the lookup itself failed, never for
// something missing.
type References interface {
	HasPartner(ctx context.Context, id string) (bool, error)
	HasIndustry(ctx context.Context, id string) (bool, error)
	// SpaceOwner returns the id of the customer holding space, "" if none.
	SpaceOwner(ctx context.Context, space string) (string, error)
}

// Registration is what CheckRegistration checks: the new customer's ids
// and space (normalized), and the names of the input fields that carry
// the partner, the industry and the space, which differ between the
// GraphQL input and the NATS command.
type Registration struct {
	CustomerID, PartnerID, IndustryID, Space string
	PartnerField, IndustryField, SpaceField  string
}

// CheckRegistration checks a registration against the references: the
// partner and the industry must exist and the space must be free (or
// already the customer's). It returns every problem found (nil if none),
// and an error only when a lookup failed. The space is only read here: a
// registration that must hold it claims it atomically afterwards and
// reports a lost race with SpaceTaken.
func CheckRegistration(ctx context.Context, refs References, r Registration) (ValidationErrors, error) {
	var errs ValidationErrors
	if ok, err := refs.HasPartner(ctx, r.PartnerID); err != nil {
		return nil, fmt.Errorf("read partner: %w", err)
	} else if !ok {
		errs.Add(Invalid(r.PartnerField, "unknown partner %s", r.PartnerID))
	}
	if ok, err := refs.HasIndustry(ctx, r.IndustryID); err != nil {
		return nil, fmt.Errorf("read industry: %w", err)
	} else if !ok {
		errs.Add(Invalid(r.IndustryField, "unknown industry %s", r.IndustryID))
	}
	if owner, err := refs.SpaceOwner(ctx, r.Space); err != nil {
		return nil, fmt.Errorf("read space owner: %w", err)
	} else if owner != "" && owner != r.CustomerID {
		errs.Add(SpaceTaken(r.SpaceField, r.Space))
	}
	return errs, nil
}

// SpaceTaken is the CONFLICT of a space that another customer holds.
func SpaceTaken(field, space string) *Error {
	return &Error{Code: CodeConflict, Field: field, Message: fmt.Sprintf("space %q is already taken", space)}
}
