package provisioner

import (
	"context"
	"errors"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/twilio"
)

// closeSubaccount closes a terminated customer's Twilio sub-account.
//
// A sub-account Twilio does not know (ErrNotFound: it was removed, or is
// no longer under our main account) is closed as far as we are concerned:
// the termination goes on, logged, because refusing it would keep the
// customer, and its key, alive for ever over an account that cannot be
// used any more.
//
// Refused credentials (ErrUnauthorized, 401/403) are not a passing
// failure: retrying cannot help until an operator fixes TextKit's Twilio
// credentials, so the command is rejected at once (UNAVAILABLE, with a
// message saying so) instead of being retried, and the same command can
// be sent again once they are fixed. Transient failures are returned as
// they are, for the caller's retry.
func (p *Provisioner) closeSubaccount(ctx context.Context, sid string) error {
	_, err := p.cfg.Twilio.Close(ctx, sid)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, twilio.ErrNotFound):
		logger(ctx).Warn("Twilio does not know the sub-account; it counts as closed and the termination goes on",
			"twilio_sid", sid, "error", err.Error())
		return nil
	case errors.Is(err, twilio.ErrUnauthorized):
		logger(ctx).Error("Twilio refused TextKit's credentials while closing a sub-account; an operator must fix them",
			"twilio_sid", sid, "error", err.Error())
		return customer.Errorf(customer.CodeUnavailable,
			"Twilio refused TextKit's credentials, so the sub-account could not be closed; the termination was not applied. "+
				"Send the same command again once TextKit's operators have fixed the credentials")
	}
	return err
}
