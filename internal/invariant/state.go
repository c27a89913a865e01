package invariant

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/twilio"
)

// stream: nothing of the customer waits in the command stream, and no
// command the gateway recorded as pending is left without an outcome (it
// would read PENDING for ever).
func (c *customerCheck) stream(ctx context.Context) error {
	if n := c.global.waiting[c.id]; n > 0 {
		c.report(Unprocessed, "", "%d command(s) still waiting in the command stream", n)
	}
	inHistory := map[string]bool{}
	for _, h := range c.hist {
		inHistory[h.CommandID] = true
	}
	for _, p := range c.global.pending[c.id] {
		if inHistory[p.CommandID] {
			continue
		}
		if _, dl := c.global.deadLetters[p.CommandID]; dl {
			continue
		}
		out, err := c.src.Outcome(ctx, p.PartnerID, c.id, p.CommandID)
		if err != nil {
			return err
		}
		if out != nil {
			continue
		}
		if c.global.waiting[c.id] > 0 {
			continue
		}
		if !p.Published && !p.Deadline.IsZero() {
			// command(id) settles it (gateway settle.go) once its
			// deadline passes: REJECTED, never PENDING for ever.
			c.rep.Counts.SettledOnRead++
			continue
		}
		c.report(Unprocessed, p.CommandID, "command(id) reads PENDING (%s, recorded %s) but no outcome exists and nothing waits in the stream", p.Type, p.At.Format(time.RFC3339))
	}
	return nil
}

// twilioStatus is the sub-account status a customer in each state has.
var twilioStatus = map[customer.Status]string{
	customer.StatusRegistered:  "active",
	customer.StatusActive:      "active",
	customer.StatusDeactivated: "suspended",
	customer.StatusTerminated:  "closed",
}

// twilio: an existing customer has exactly one sub-account, the one it
// names, in the status its own state calls for.
func (c *customerCheck) twilio() error {
	subs := c.global.subaccounts[twilio.SubaccountName(c.id)]
	if c.cust == nil {
		c.rep.Counts.OrphanSubaccounts += len(subs)
		return nil
	}
	if len(subs) != 1 {
		c.report(TwilioSubaccounts, "", "%d Twilio sub-accounts named %s, want 1", len(subs), twilio.SubaccountName(c.id))
		return nil
	}
	sub := subs[0]
	if c.cust.TwilioSID != sub.SID {
		c.report(TwilioStatus, "", "customer names sub-account %q, Twilio's is %s", c.cust.TwilioSID, sub.SID)
	}
	if want := twilioStatus[c.cust.Status]; sub.Status != want {
		c.report(TwilioStatus, "", "customer is %s, its sub-account %s is %s (want %s)", c.cust.Status, sub.SID, sub.Status, want)
	}
	return nil
}

// keys: a customer's key lives until its retention's date and not longer
// (plus Options.KeyGrace for retention's sweep).
func (c *customerCheck) keys(ctx context.Context) error {
	if c.cust == nil {
		return nil
	}
	rec, err := c.src.KeyRecord(ctx, c.id)
	if err != nil {
		return err
	}
	exists, err := c.src.KeyExists(ctx, c.id)
	if err != nil {
		return err
	}
	now := c.opt.Now()
	if c.cust.Status != customer.StatusTerminated {
		switch {
		case !exists && rec.State == keys.Pending:
			c.report(KeyMissing, "", "customer is %s and its key was never created", c.cust.Status)
		case !exists:
			c.report(KeyDestroyedEarly, "", "customer is %s, its key is gone (record %s)", c.cust.Status, rec.State)
		}
		return nil
	}
	if !exists && rec.State != keys.Destroyed && !rec.Published[command.KeyCreated] {
		// Retention does not create the key of a customer terminated
		// before it could (a Vault outage at registration): nothing can
		// have been sealed with it, unless contact info was stored.
		if c.cust.ContactCiphertext != "" {
			c.report(KeyMissing, "", "terminated customer has sealed contact info, but its key was never created")
		} else {
			c.rep.Counts.KeysNeverCreated++
		}
		return nil
	}
	var due time.Time
	ok := false
	if c.cust.Retention != nil {
		due, ok = c.cust.Retention.DestroyAt(c.cust.TerminatedAt)
	}
	switch {
	case !ok && !exists:
		c.report(KeyDestroyedEarly, "", "retention keeps the key, but it is gone")
	case ok && now.Before(due) && !exists:
		c.report(KeyDestroyedEarly, "", "key is gone, due to be destroyed at %s", due.Format(time.RFC3339))
	case ok && rec.State == keys.Destroyed && !rec.DestroyedAt.IsZero() && rec.DestroyedAt.Before(due.Add(-time.Second)):
		c.report(KeyDestroyedEarly, "", "key recorded destroyed at %s, before its date %s", rec.DestroyedAt.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano))
	case ok && exists && now.After(due.Add(c.opt.KeyGrace)):
		c.report(KeyAliveLate, "", "key still exists, due to be destroyed at %s (record %s)", due.Format(time.RFC3339), rec.State)
	case exists && rec.State == keys.Destroyed:
		c.report(KeyAliveLate, "", "key recorded destroyed, but Vault still has it")
	}
	return nil
}
