package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/gateway/model"
	"github.com/textkit/customers/internal/gateway/scalar"
	"github.com/textkit/customers/internal/keywait"
	"github.com/textkit/customers/internal/redisstore"
)

type mutationResolver struct{ g *Gateway }

// idempotencyNamespace makes command ids derived from Idempotency-Key
// values distinct from any other UUIDv5 use.
var idempotencyNamespace = uuid.MustParse("6f1d3c7e-2b4a-5e8f-9c0d-1a2b3c4d5e6f")

// newID returns the id of something a mutation creates (a command, a
// customer). With an Idempotency-Key it is derived from the key, the
// caller and the mutation's position in the request, so a retried request
// publishes the very same commands, which are applied once.
func (g *Gateway) newID(ctx context.Context, what string) string {
	p, _ := PrincipalFrom(ctx)
	key := idempotencyKeyFrom(ctx)
	if key == "" {
		v, err := uuid.NewV7()
		if err != nil {
			return uuid.NewString()
		}
		return v.String()
	}
	slot := ""
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		slot = fc.Path().String()
	}
	return uuid.NewSHA1(idempotencyNamespace, []byte(p.KeyID+"\n"+key+"\n"+slot+"\n"+what)).String()
}

// newCommand is the command with id that a mutation sends (see commandFor).
func (g *Gateway) newCommand(ctx context.Context, id string, t command.Type, c *customer.Customer, expected *int64, payload any) *command.Command {
	p, _ := PrincipalFrom(ctx)
	actor := "partner:" + p.PartnerID
	if p.Operator() {
		actor = "operator:" + p.Name
	}
	cmd := &command.Command{
		Version: command.WireVersion, ID: id, Type: t,
		CustomerID: c.ID(), PartnerID: c.PartnerID(), ExpectedVersion: expected,
		Actor: actor, IssuedAt: g.cfg.Now().UTC(),
	}
	if payload != nil {
		cmd.Payload = command.MustPayload(payload)
	}
	return cmd
}

// errTimeout carries the id of a command whose outcome did not arrive in time.
type errTimeout struct{ commandID string }

func (e errTimeout) Error() string { return "timeout waiting for command " + e.commandID }

// execute publishes cmd and waits for its outcome, within the mutation's
// time (ctx, bounded; settleTimeout more for a failed publish, see
// settle.go). A publish that fails or is not acknowledged in time settles
// the command: the answer is final. On a timeout waiting for the outcome
// the command still runs; the error carries its id.
func (g *Gateway) execute(ctx context.Context, cmd *command.Command) (*command.Outcome, error) {
	start := time.Now()
	pending := g.pendingOf(cmd)
	if err := g.cfg.Store.RecordPending(ctx, pending); err != nil {
		return nil, g.storeFailed(ctx, err)
	}
	ch, cancel := g.cfg.Outcomes.Expect(cmd.ID)
	defer cancel()
	if err := g.cfg.Publisher.PublishCommand(ctx, cmd); err != nil {
		observeMutation(cmd.Type, "unpublished", time.Since(start))
		return g.notPublished(ctx, pending, err)
	}
	log := g.cfg.Logger.With("command_id", cmd.ID, "command_type", string(cmd.Type), "customer_id", cmd.CustomerID, "request_id", requestID(ctx))
	log.DebugContext(ctx, "command published")
	out, err := g.cfg.Outcomes.Wait(ctx, ch, cmd.PartnerID, cmd.CustomerID, cmd.ID)
	elapsed := time.Since(start)
	if err != nil {
		// No outcome yet: the command may outlive its publish deadline
		// in the stream, so mark it published now (settle.go). With an
		// outcome, stored before it was published, the mark is not
		// needed: it would be a write per command for nothing.
		g.published(ctx, pending)
		if !errors.Is(context.Cause(ctx), errMutationTime) {
			observeMutation(cmd.Type, "cancelled", elapsed)
			return nil, ctx.Err()
		}
		observeMutation(cmd.Type, "timeout", elapsed)
		log.WarnContext(ctx, "command outcome did not arrive in time; it still runs", "waited", elapsed.String())
		return nil, errTimeout{cmd.ID}
	}
	observeMutation(cmd.Type, strings.ToLower(string(out.Status)), elapsed)
	log.InfoContext(ctx, "command completed", "status", string(out.Status), "customer_version", out.CustomerVersion, "ms", elapsed.Milliseconds())
	return settledAnswer(out)
}

// simple runs a Boolean mutation, within the mutation timeout (bounded):
// load the visible customer, check the version and the transition early
// (the provisioner checks again, authoritatively), build the payload (with
// the bounded context), publish and wait. A retry with the same
// Idempotency-Key answers from the first attempt's outcome.
func (g *Gateway) simple(ctx context.Context, t command.Type, id string, expected *scalar.ExpectedVersion, check func(*customer.Customer) error, payload func(context.Context, *customer.Customer) (any, error)) (*bool, error) {
	ctx, stop := g.bounded(ctx)
	defer stop()
	id = customer.NormalizeID(id)
	owner := g.ownerOf(ctx, id)
	prev, cmdID, err := g.commandFor(ctx, owner, id)
	if err != nil {
		return nil, err
	} else if prev != nil {
		return answer(ctx, g, prev)
	}
	refuse := func(err error) (*bool, error) {
		return nil, g.mutationError(g.refuse(ctx, cmdID, t, owner, id, err), "")
	}
	c, err := g.visible(ctx, id)
	if err != nil {
		return refuse(err)
	}
	var ev *int64
	if expected != nil {
		ev = expected.Version
	}
	if err := c.CheckVersion(ev); err != nil {
		return refuse(err)
	}
	if err := check(c); err != nil {
		return refuse(err)
	}
	var body any
	if payload != nil {
		if body, err = payload(ctx, c); err != nil {
			return refuse(err)
		}
	}
	cmd := g.newCommand(ctx, cmdID, t, c, ev, body)
	out, err := g.execute(ctx, cmd)
	if err != nil {
		return nil, g.mutationError(err, cmd.ID)
	}
	return answer(ctx, g, out)
}

// answer is a Boolean mutation's answer to its command's outcome.
func answer(ctx context.Context, g *Gateway, out *command.Outcome) (*bool, error) {
	if err := out.Err(); err != nil {
		return nil, g.mutationError(err, out.CommandID)
	}
	ok := true
	return &ok, nil
}

// refuse records, for a request with an Idempotency-Key, a mutation the
// gateway refused before publishing anything, as the rejected outcome of
// its command id (commandFor, derived from the key): a retry then answers
// the same instead of running against a customer that may have changed.
// Passing failures (UNAVAILABLE, TIMEOUT, INTERNAL) are not recorded, so
// a retry runs again. It returns why.
func (g *Gateway) refuse(ctx context.Context, commandID string, t command.Type, partnerID, customerID string, why error) error {
	if idempotencyKeyFrom(ctx) == "" || customer.ValidateID("id", customerID) != nil {
		return why
	}
	switch customer.ErrorCode(why) {
	case customer.CodeUnavailable, customer.CodeTimeout, customer.CodeInternal:
		return why
	}
	out := command.Outcome{
		Version: command.WireVersion, CommandID: commandID, Type: t,
		CustomerID: customerID, PartnerID: partnerID, Status: command.Rejected,
		Errors: customer.AsErrors(why), ProcessedAt: g.cfg.Now().UTC(),
	}
	if _, err := g.cfg.Store.Reject(ctx, out); err != nil {
		// A retry will check again rather than replay; nothing is lost.
		g.cfg.Logger.WarnContext(ctx, "could not record the refusal for Idempotency-Key replays", "error", err.Error(), "request_id", requestID(ctx))
	}
	return why
}

// ownerOf is the partner whose commands on customerID the request sends:
// the caller's own partner, or for an operator the customer's (when the
// customer exists; "" otherwise). Only requests with an Idempotency-Key
// need it.
func (g *Gateway) ownerOf(ctx context.Context, customerID string) string {
	p, _ := PrincipalFrom(ctx)
	if !p.Operator() || idempotencyKeyFrom(ctx) == "" || customer.ValidateID("id", customerID) != nil {
		return p.PartnerID
	}
	if c, err := g.cfg.Store.Get(ctx, customerID); err == nil {
		return c.PartnerID()
	}
	return ""
}

func (m *mutationResolver) ActivateCustomer(ctx context.Context, in model.ActivateCustomerInput) (*bool, error) {
	now := m.g.cfg.Now()
	return m.g.simple(ctx, command.Activate, in.ID, in.ExpectedVersion, func(c *customer.Customer) error { return c.Activate(now) }, nil)
}

func (m *mutationResolver) DeactivateCustomer(ctx context.Context, in model.DeactivateCustomerInput) (*bool, error) {
	now := m.g.cfg.Now()
	return m.g.simple(ctx, command.Deactivate, in.ID, in.ExpectedVersion, func(c *customer.Customer) error { return c.Deactivate(now) }, nil)
}

func (m *mutationResolver) UpdateCustomerContactInfo(ctx context.Context, in model.UpdateCustomerContactInfoInput) (*bool, error) {
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	ci, err := customer.ContactInfo{
		BusinessName: in.BusinessName, SecondaryName: deref(in.SecondaryName), PhoneNumber: in.PhoneNumber,
		AddressLine1: in.AddressLine1, AddressLine2: deref(in.AddressLine2), PostalCode: deref(in.PostalCode),
		Province: deref(in.Province), Country: in.Country,
	}.Normalize()
	if err != nil {
		return nil, err
	}
	return m.g.simple(ctx, command.UpdateContactInfo, in.ID, in.ExpectedVersion,
		func(c *customer.Customer) error { return c.CanUpdateContactInfo() },
		func(ctx context.Context, c *customer.Customer) (any, error) {
			sealed, err := m.g.seal(ctx, c.ID(), ci)
			if err != nil {
				return nil, err
			}
			return command.ContactInfoPayload{Sealed: sealed}, nil
		})
}

// seal encrypts contact info with the customer's key before anything is
// published, so no plaintext personal data reaches JetStream. A customer
// registered a moment ago may not have its key yet: wait for it, bounded.
func (g *Gateway) seal(ctx context.Context, customerID string, ci customer.ContactInfo) (string, error) {
	plain, err := json.Marshal(ci)
	if err != nil {
		return "", err
	}
	var sealed string
	err = keywait.Until(ctx, keywait.Policy{Limit: g.cfg.KeyWait, First: 25 * time.Millisecond, Ceiling: 500 * time.Millisecond},
		func(ctx context.Context) (bool, error) {
			s, err := g.cfg.Keys.Encrypt(ctx, customerID, plain)
			switch {
			case err == nil:
				sealed = s
				return true, nil
			case g.cfg.IsKeyMissing(err):
				return false, nil
			}
			return false, g.unavailable(ctx, "encryption (Vault)", err)
		})
	if err != nil {
		return "", err
	}
	return sealed, nil
}

func (m *mutationResolver) RegisterCustomer(ctx context.Context, in model.RegisterCustomerInput) (*model.RegisterCustomerPayload, error) {
	g := m.g
	ctx, stop := g.bounded(ctx)
	defer stop()
	p, err := g.principal(ctx)
	if err != nil {
		return nil, err
	}
	id := g.newID(ctx, "customer")
	if in.ID != nil {
		id = customer.NormalizeID(*in.ID)
	}
	partnerID := customer.NormalizeID(in.PartnerID)
	prev, cmdID, err := g.commandFor(ctx, partnerID, id)
	if err != nil {
		return nil, err
	} else if prev != nil {
		return registered(prev), nil
	}
	industryID := customer.NormalizeID(in.IndustryID)
	refused := func(err error) (*model.RegisterCustomerPayload, error) {
		err = g.refuse(ctx, cmdID, command.Register, partnerID, id, err)
		return &model.RegisterCustomerPayload{UserErrors: userErrorsOf(customer.AsErrors(err))}, nil
	}
	if !p.Operator() && partnerID != p.PartnerID {
		return refused(&customer.Error{Code: customer.CodeForbidden, Field: "partnerId", Message: "you may register customers only under your own partner id"})
	}
	c, err := customer.New(id, partnerID, industryID, in.Space, in.Label, g.cfg.Now())
	if err != nil {
		return refused(err)
	}
	errs, err := customer.CheckRegistration(ctx, g.cfg.Store, customer.Registration{
		CustomerID: id, PartnerID: partnerID, IndustryID: industryID, Space: c.Space(),
		PartnerField: "partnerId", IndustryField: "industryId", SpaceField: "space",
	})
	if err != nil {
		return nil, g.storeFailed(ctx, err)
	}
	if len(errs) > 0 {
		return refused(errs)
	}
	cmd := g.newCommand(ctx, cmdID, command.Register, c, nil, command.RegisterPayload{Space: c.Space(), IndustryID: industryID, Label: c.Label()})
	out, err := g.execute(ctx, cmd)
	if err != nil {
		return nil, g.mutationError(err, cmd.ID)
	}
	return registered(out), nil
}

// registered is registerCustomer's answer to its command's outcome.
func registered(out *command.Outcome) *model.RegisterCustomerPayload {
	p := &model.RegisterCustomerPayload{}
	p.Response, p.UserErrors, p.CustomerID, p.Version, p.CommandID = payloadOf(out)
	return p
}

// payloadOf is what a mutation payload (registerCustomer's,
// terminateCustomer's) says of its command's outcome: response true when
// applied, with the customer's new version; the errors otherwise.
func payloadOf(out *command.Outcome) (response bool, userErrors []*model.UserError, customerID *string, version *int64, commandID *string) {
	if out.Status == command.Applied {
		v := out.CustomerVersion
		response, version = true, &v
	}
	return response, userErrorsOf(out.Errors), &out.CustomerID, version, &out.CommandID
}

func (m *mutationResolver) TerminateCustomer(ctx context.Context, in model.TerminateCustomerInput) (*model.TerminateCustomerPayload, error) {
	g := m.g
	ctx, stop := g.bounded(ctx)
	defer stop()
	cid := customer.NormalizeID(in.ID)
	owner := g.ownerOf(ctx, cid)
	prev, cmdID, err := g.commandFor(ctx, owner, cid)
	if err != nil {
		return nil, err
	} else if prev != nil {
		return terminated(prev), nil
	}
	refused := func(err error) (*model.TerminateCustomerPayload, error) {
		err = g.refuse(ctx, cmdID, command.Terminate, owner, cid, err)
		return &model.TerminateCustomerPayload{UserErrors: userErrorsOf(customer.AsErrors(err))}, nil
	}
	ev, err := terminateExpectedVersion(in)
	if err != nil {
		return refused(err)
	}
	var period *int
	if in.Retention.Period != nil {
		p := int(*in.Retention.Period)
		if int64(p) != *in.Retention.Period {
			p = -1
		}
		period = &p
	}
	r, err := customer.NewRetention(string(in.Retention.Strategy), period)
	if err != nil {
		return refused(err)
	}
	c, err := g.visible(ctx, in.ID)
	if err != nil {
		switch customer.ErrorCode(err) {
		case customer.CodeInternal, customer.CodeUnavailable, customer.CodeTimeout:
			return nil, err // outages are GraphQL errors, not userErrors
		}
		return refused(err)
	}
	if err := c.CheckVersion(ev); err != nil {
		return refused(err)
	}
	if err := c.Terminate(r, g.cfg.Now()); err != nil {
		return refused(err)
	}
	cmd := g.newCommand(ctx, cmdID, command.Terminate, c, ev, command.TerminatePayload{Retention: command.RetentionInput{Strategy: string(r.Strategy), Period: period}})
	out, err := g.execute(ctx, cmd)
	if err != nil {
		return nil, g.mutationError(err, cmd.ID)
	}
	return terminated(out), nil
}

// terminateExpectedVersion is terminateCustomer's expectedVersion, which
// may be set on the input or in retention (where the docs' example puts
// it), but not twice with different values.
func terminateExpectedVersion(in model.TerminateCustomerInput) (*int64, error) {
	switch {
	case in.ExpectedVersion != nil && in.Retention.ExpectedVersion != nil:
		a, b := in.ExpectedVersion.Version, in.Retention.ExpectedVersion.Version
		if (a == nil) != (b == nil) || (a != nil && *a != *b) {
			return nil, customer.Invalid("expectedVersion", "is set twice with different values (on the input and in retention); set it once")
		}
		return a, nil
	case in.ExpectedVersion != nil:
		return in.ExpectedVersion.Version, nil
	case in.Retention.ExpectedVersion != nil:
		return in.Retention.ExpectedVersion.Version, nil
	}
	return nil, nil
}

// terminated is terminateCustomer's answer to its command's outcome.
func terminated(out *command.Outcome) *model.TerminateCustomerPayload {
	p := &model.TerminateCustomerPayload{}
	p.Response, p.UserErrors, p.CustomerID, p.Version, p.CommandID = payloadOf(out)
	return p
}

func (m *mutationResolver) UpsertPartner(ctx context.Context, in model.PartnerInput) (*model.Partner, error) {
	return upsertRef(ctx, m.g, in.ID, in.Name, func(id, name string) error {
		return m.g.cfg.Store.PutPartner(ctx, redisstore.Partner{ID: id, Name: name})
	}, func(id, name string) *model.Partner { return &model.Partner{ID: id, Name: name} })
}

func (m *mutationResolver) UpsertIndustry(ctx context.Context, in model.IndustryInput) (*model.Industry, error) {
	return upsertRef(ctx, m.g, in.ID, in.Name, func(id, name string) error {
		return m.g.cfg.Store.PutIndustry(ctx, redisstore.Industry{ID: id, Name: name})
	}, func(id, name string) *model.Industry { return &model.Industry{ID: id, Name: name} })
}

func upsertRef[T any](ctx context.Context, g *Gateway, id, name string, put func(id, name string) error, out func(id, name string) *T) (*T, error) {
	p, err := g.principal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Operator() {
		return nil, customer.Errorf(customer.CodeForbidden, "only operators manage reference data")
	}
	id = customer.NormalizeID(id)
	var errs customer.ValidationErrors
	errs.Add(customer.ValidateID("id", id))
	name, err = customer.NormalizeLabel(name)
	if err != nil {
		errs.Add(customer.Invalid("name", "%s", customer.AsErrors(err)[0].Message))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := put(id, name); err != nil {
		return nil, g.storeFailed(ctx, err)
	}
	return out(id, name), nil
}
