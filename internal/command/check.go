package command

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/textkit/customers/internal/customer"
)

// Checked is a command that passed Check, with its payload parsed and
// normalised.
type Checked struct {
	*Command
	// Register is set for customer.register.
	Register *RegisterPayload
	// Contact is the normalised plaintext contact info of a direct
	// customer.updateContactInfo; nil when the command carries Sealed.
	Contact *customer.ContactInfo
	// Sealed is the ciphertext of a gateway customer.updateContactInfo.
	Sealed string
	// Retention is set for customer.terminate.
	Retention customer.Retention
}

// Check validates a decoded command received on subject ("" when it did not
// come from NATS): the envelope, that the subject's partner and customer
// match the body's, and the payload of its type, with the same domain rules
// the gateway applies. Every problem is reported, each naming its field.
func Check(c *Command, subject string) (*Checked, error) {
	// The payload is read only once the envelope says which type it is.
	if errs := checkEnvelope(c, subject); len(errs) > 0 {
		return nil, errs
	}
	out := &Checked{Command: c}
	var errs customer.ValidationErrors
	var err error
	switch c.Type {
	case Register:
		err = checkRegister(c, out, &errs)
	case UpdateContactInfo:
		err = checkContactInfo(c, subject, out, &errs)
	case Terminate:
		err = checkTerminate(c, out, &errs)
	default: // activate, deactivate: no payload
		if !emptyPayload(c.Payload) {
			errs.Add(customer.Invalid("payload", "must be empty (absent, null or {}) for %s", c.Type))
		}
	}
	if err != nil {
		return nil, err
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// checkEnvelope checks the fields every command has and, when subject is
// set, that it names the body's partner and customer.
func checkEnvelope(c *Command, subject string) customer.ValidationErrors {
	var errs customer.ValidationErrors
	if c.Version != WireVersion {
		errs.Add(customer.Invalid("version", "must be %d (the wire version this provisioner speaks), got %d", WireVersion, c.Version))
	}
	errs.Add(customer.ValidateID("id", c.ID))
	if !c.Type.Known() {
		names := make([]string, len(Types))
		for i, t := range Types {
			names[i] = string(t)
		}
		errs.Add(customer.Invalid("type", "unknown command type %q; known types are %s", c.Type, strings.Join(names, ", ")))
	}
	errs.Add(customer.ValidateID("customerId", c.CustomerID))
	errs.Add(customer.ValidateID("partnerId", c.PartnerID))
	errs.Add(customer.ValidateExpectedVersion(c.ExpectedVersion))
	if subject != "" {
		p, cu, ok := SubjectIDs(subject)
		switch {
		case !ok:
			errs.Add(customer.Invalid("subject", "%q is not %s.<partnerId>.<customerId>", subject, CommandPrefix))
		case p != c.PartnerID:
			errs.Add(customer.Invalid("partnerId", "does not match the subject's partner %q", p))
		case cu != c.CustomerID:
			errs.Add(customer.Invalid("customerId", "does not match the subject's customer %q", cu))
		}
	}
	return errs
}

// checkRegister parses and normalises a customer.register payload into
// out.Register, adding its problems to errs. The error is a payload that
// cannot be decoded at all.
func checkRegister(c *Command, out *Checked, errs *customer.ValidationErrors) error {
	var p RegisterPayload
	if err := c.DecodePayload(&p); err != nil {
		return err
	}
	errs.Add(prefixed("payload.", customer.ValidateSpace(p.Space)))
	errs.Add(prefixed("payload.", customer.ValidateID("industryId", p.IndustryID)))
	label, err := customer.NormalizeLabel(p.Label)
	errs.Add(prefixed("payload.", err))
	p.Label = label
	out.Register = &p
	return nil
}

// checkContactInfo parses a customer.updateContactInfo payload into
// out.Contact (plaintext, normalised) or out.Sealed (the gateway's
// ciphertext), adding its problems to errs. The error is a payload that
// cannot be decoded at all.
func checkContactInfo(c *Command, subject string, out *Checked, errs *customer.ValidationErrors) error {
	var p ContactInfoPayload
	if err := c.DecodePayload(&p); err != nil {
		return err
	}
	switch {
	case p.ContactInfo != nil && p.Sealed != "":
		errs.Add(customer.Invalid("payload", "set either contactInfo or sealed, not both"))
	case p.ContactInfo != nil:
		ci, err := p.ContactInfo.Normalize()
		errs.Add(prefixed("payload.contactInfo.", err))
		out.Contact = &ci
	case p.Sealed != "" && subject != "" && !FromGateway(subject):
		// Only the gateway holds the customer's key; anything else
		// claiming to be ciphertext could never be read back.
		errs.Add(customer.Invalid("payload.sealed", "is accepted only from the gateway; send plaintext contactInfo"))
	case strings.HasPrefix(p.Sealed, "vault:v"):
		out.Sealed = p.Sealed
	case p.Sealed != "":
		errs.Add(customer.Invalid("payload.sealed", "must be Vault transit ciphertext (vault:v<N>:...)"))
	default:
		errs.Add(customer.Invalid("payload.contactInfo", "is required"))
	}
	return nil
}

// checkTerminate parses a customer.terminate payload into out.Retention,
// adding its problems to errs. The error is a payload that cannot be
// decoded at all.
func checkTerminate(c *Command, out *Checked, errs *customer.ValidationErrors) error {
	var p TerminatePayload
	if err := c.DecodePayload(&p); err != nil {
		return err
	}
	r, err := customer.NewRetention(p.Retention.Strategy, p.Retention.Period)
	errs.Add(prefixed("payload.", err))
	out.Retention = r
	return nil
}

// prefixed puts prefix before the field of every error in err, so a
// domain error about "phoneNumber" reads "payload.contactInfo.phoneNumber"
// on the wire.
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	errs := customer.AsErrors(err)
	out := make(customer.ValidationErrors, len(errs))
	for i, e := range errs {
		c := *e
		if c.Field != "" && !strings.HasPrefix(c.Field, prefix) {
			c.Field = prefix + c.Field
		}
		out[i] = &c
	}
	return out
}

// emptyPayload reports whether raw is absent, null or an empty object.
func emptyPayload(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(t, &m) == nil && len(m) == 0
}
