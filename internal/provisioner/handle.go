package provisioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/keywait"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/twilio"
)

// Incoming is one message from the command stream.
type Incoming struct {
	Subject   string
	MsgID     string // Nats-Msg-Id header
	StreamSeq string
	Data      []byte
}

// handleMessage handles a message of a partition consumer.
func (p *Provisioner) handleMessage(ctx context.Context, m natsbus.Message) error {
	in := Incoming{Subject: m.Subject, MsgID: m.MsgID, Data: m.Data}
	if m.StreamSeq != 0 {
		in.StreamSeq = strconv.FormatUint(m.StreamSeq, 10)
	}
	return p.Handle(ctx, in)
}

// maxStaleRetries bounds recomputing a change after a concurrent write.
const maxStaleRetries = 8

// Handle processes one command message. It returns nil when the message is
// finished (applied, rejected or dead-lettered) and an error when it should
// be redelivered later.
func (p *Provisioner) Handle(ctx context.Context, in Incoming) error {
	start := p.cfg.Now()
	ctx = withLogger(ctx, p.cfg.Logger.With("subject", in.Subject, "nats_msg_id", in.MsgID))
	cmd, err := command.Decode(in.Data)
	if err != nil {
		return p.badMessage(ctx, in, nil, err)
	}
	log := p.cfg.Logger.With("command_id", cmd.ID, "command_type", string(cmd.Type), "customer_id", cmd.CustomerID)
	ctx = withLogger(ctx, log)
	if in.MsgID != "" && in.MsgID != cmd.ID {
		return p.badMessage(ctx, in, cmd, customer.Invalid("id", "must equal the Nats-Msg-Id header %q", in.MsgID))
	}
	chk, err := command.Check(cmd, in.Subject)
	if err != nil {
		return p.badMessage(ctx, in, cmd, err)
	}
	if part, ok := partitionOfSubject(in.Subject); ok && part != natsbus.PartitionOf(cmd.CustomerID) {
		return p.badMessage(ctx, in, cmd, customer.Invalid("subject",
			"was published to partition %d directly; publish to %s", part, command.CommandSubject(cmd.PartnerID, cmd.CustomerID)))
	}
	if !command.FromGateway(in.Subject) || chk.Actor == "" {
		// A direct publisher's claim about who it is cannot be checked.
		chk.Actor = "nats:" + chk.PartnerID
	}

	if err := p.cfg.Store.IndexCommand(ctx, chk.PartnerID, chk.ID, chk.CustomerID); err != nil {
		return p.transient("index command", err)
	}
	prev, err := p.cfg.Store.Outcome(ctx, chk.PartnerID, chk.CustomerID, chk.ID)
	if err != nil {
		return p.transient("read outcome", err)
	}
	if prev != nil && !prev.Retryable {
		log.Info("command already processed; republishing its outcome", "status", string(prev.Status))
		if err := p.finish(ctx, chk, prev); err != nil {
			return err
		}
		if chk.Contact != nil {
			return p.erase(ctx, in)
		}
		return nil
	}

	for attempt := 0; ; attempt++ {
		err = p.execute(ctx, chk)
		if errors.Is(err, redisstore.ErrStale) && attempt < maxStaleRetries {
			log.Debug("customer changed concurrently; recomputing", "attempt", attempt+1)
			continue
		}
		break
	}
	if err == nil && chk.Contact != nil {
		// Plaintext personal data: overwrite it in the stream now rather
		// than leave it to the work queue's plain removal.
		err = p.erase(ctx, in)
	}
	observe(chk.Type, err, p.cfg.Now().Sub(start))
	if err != nil {
		log.Warn("command failed; it will be redelivered", "error", err.Error())
		p.honourRetryAfter(ctx, err)
	}
	return err
}

func partitionOfSubject(subject string) (int, bool) {
	var part int
	var rest string
	if _, err := fmt.Sscanf(subject, command.PartitionPrefix+".%d.%s", &part, &rest); err != nil {
		return 0, false
	}
	return part, true
}

// execute computes and records the command's effect.
func (p *Provisioner) execute(ctx context.Context, chk *command.Checked) error {
	if chk.Type == command.Register {
		return p.register(ctx, chk)
	}
	now := p.cfg.Now()
	c, err := p.cfg.Store.Get(ctx, chk.CustomerID)
	if customer.ErrorCode(err) == customer.CodeNotFound || (err == nil && c.PartnerID() != chk.PartnerID) {
		// Another partner's customer looks exactly like a missing one.
		return p.reject(ctx, chk, customer.Errorf(customer.CodeNotFound, "customer %s not found", chk.CustomerID))
	}
	if err != nil {
		return p.transient("load customer", err)
	}
	if err := c.CheckVersion(chk.ExpectedVersion); err != nil {
		return p.reject(ctx, chk, err)
	}
	base := c.Version()
	switch chk.Type {
	case command.Activate:
		reopen := c.Status() == customer.StatusDeactivated
		if err := c.Activate(now); err != nil {
			return p.reject(ctx, chk, err)
		}
		if err := p.awaitKey(ctx, chk.CustomerID); err != nil {
			if failure.IsTransient(err) {
				return err
			}
			return p.reject(ctx, chk, err)
		}
		if reopen && c.TwilioSID() != "" {
			if _, err := p.cfg.Twilio.Reopen(ctx, c.TwilioSID()); err != nil {
				return p.dependency(ctx, chk, "reopen the Twilio sub-account", err)
			}
		}
	case command.Deactivate:
		if err := c.Deactivate(now); err != nil {
			return p.reject(ctx, chk, err)
		}
		if c.TwilioSID() != "" {
			if _, err := p.cfg.Twilio.Suspend(ctx, c.TwilioSID()); err != nil {
				return p.dependency(ctx, chk, "suspend the Twilio sub-account", err)
			}
		}
	case command.UpdateContactInfo:
		if err := c.CanUpdateContactInfo(); err != nil {
			return p.reject(ctx, chk, err)
		}
		sealed := chk.Sealed
		if chk.Contact != nil {
			sealed, err = p.seal(ctx, chk.CustomerID, *chk.Contact)
			if err != nil {
				return p.dependency(ctx, chk, "encrypt the contact info", err)
			}
		}
		if err := c.UpdateContactInfo(sealed, now); err != nil {
			return p.reject(ctx, chk, err)
		}
	case command.Terminate:
		if err := c.Terminate(chk.Retention, now); err != nil {
			return p.reject(ctx, chk, err)
		}
		if c.TwilioSID() != "" {
			if err := p.closeSubaccount(ctx, c.TwilioSID()); err != nil {
				return p.dependency(ctx, chk, "close the Twilio sub-account", err)
			}
		}
	default:
		return p.reject(ctx, chk, customer.Invalid("type", "unknown command type %q", chk.Type))
	}
	return p.record(ctx, chk, c, base)
}

// register creates the customer: reference data, unique space, Twilio
// sub-account (find-or-create, so redeliveries never make a second one),
// then the atomic create.
func (p *Provisioner) register(ctx context.Context, chk *command.Checked) error {
	reg := chk.Register
	errs, err := customer.CheckRegistration(ctx, p.cfg.Store, customer.Registration{
		CustomerID: chk.CustomerID, PartnerID: chk.PartnerID, IndustryID: reg.IndustryID, Space: reg.Space,
		PartnerField: "partnerId", IndustryField: "payload.industryId", SpaceField: "payload.space",
	})
	if err != nil {
		return p.transient("check the registration", err)
	}
	if len(errs) > 0 {
		return p.reject(ctx, chk, errs)
	}
	if _, err := p.cfg.Store.Get(ctx, chk.CustomerID); err == nil {
		return p.reject(ctx, chk, customer.Errorf(customer.CodeConflict, "customer %s already exists", chk.CustomerID))
	} else if customer.ErrorCode(err) != customer.CodeNotFound {
		return p.transient("load customer", err)
	}
	owner, err := p.cfg.Store.ClaimSpace(ctx, reg.Space, chk.CustomerID)
	if err != nil {
		return p.transient("claim space", err)
	}
	if owner != chk.CustomerID {
		return p.reject(ctx, chk, customer.SpaceTaken("payload.space", reg.Space))
	}
	release := func() {
		if err := p.cfg.Store.ReleaseSpace(ctx, reg.Space, chk.CustomerID); err != nil {
			logger(ctx).Error("could not release space claim", "space", reg.Space, "error", err.Error())
		}
	}
	c, err := customer.New(chk.CustomerID, chk.PartnerID, reg.IndustryID, reg.Space, reg.Label, p.cfg.Now())
	if err != nil {
		release()
		return p.reject(ctx, chk, err)
	}
	acct, err := p.cfg.Twilio.EnsureSubaccount(ctx, chk.CustomerID)
	if err != nil {
		if failure.IsTransient(err) {
			return p.transient("create the Twilio sub-account", err)
		}
		release()
		return p.reject(ctx, chk, customer.Errorf(customer.CodeUnavailable, "the Twilio sub-account could not be created: %v", err))
	}
	if err := c.AttachSubaccount(acct.SID); err != nil {
		release()
		return p.reject(ctx, chk, err)
	}
	err = p.record(ctx, chk, c, 0)
	if errors.Is(err, redisstore.ErrStale) {
		// The id was created in between by another command.
		return p.reject(ctx, chk, customer.Errorf(customer.CodeConflict, "customer %s already exists", chk.CustomerID))
	}
	return err
}

// awaitKey waits, bounded, for retention to create the customer's key:
// registration and activation may arrive back to back.
func (p *Provisioner) awaitKey(ctx context.Context, customerID string) error {
	err := keywait.Until(ctx, keywait.Policy{Limit: p.cfg.KeyWait, First: 50 * time.Millisecond, Ceiling: time.Second},
		func(ctx context.Context) (bool, error) {
			ok, err := p.cfg.Keys.KeyStatus(ctx, customerID)
			if err != nil {
				return false, p.transient("check the customer's key", err)
			}
			return ok, nil
		})
	var ue *customer.Error
	if err == nil || failure.IsTransient(err) || errors.As(err, &ue) {
		return err
	}
	// What is left is ctx's end: the command is redelivered.
	return p.transient("wait for the customer's key", err)
}

// dependency turns a Twilio or Vault failure into a retry (transient) or a
// rejection (permanent), by failure.IsTransient.
func (p *Provisioner) dependency(ctx context.Context, chk *command.Checked, what string, err error) error {
	if failure.IsTransient(err) {
		return p.transient(what, err)
	}
	var ue *customer.Error
	if errors.As(err, &ue) {
		return p.reject(ctx, chk, ue)
	}
	return p.reject(ctx, chk, customer.Errorf(customer.CodeUnavailable, "could not %s: %v", what, err))
}

func (p *Provisioner) reject(ctx context.Context, chk *command.Checked, why error) error {
	var ue *customer.Error
	if errors.As(why, &ue) && ue.Code == customer.CodeUnavailable && ue.Message != "" {
		logger(ctx).Warn("command rejected: dependency", "reason", ue.Message)
	}
	return p.record(ctx, chk, nil, 0, why)
}

// record stores the command's result and then publishes it.
func (p *Provisioner) record(ctx context.Context, chk *command.Checked, state *customer.Customer, base int64, rejection ...error) error {
	now := p.cfg.Now().UTC()
	out := command.Outcome{
		Version: command.WireVersion, CommandID: chk.ID, Type: chk.Type,
		CustomerID: chk.CustomerID, PartnerID: chk.PartnerID, ProcessedAt: now,
	}
	ch := redisstore.Change{CustomerID: chk.CustomerID, CommandID: chk.ID}
	if len(rejection) > 0 && rejection[0] != nil {
		out.Status = command.Rejected
		out.Errors = customer.AsErrors(rejection[0])
		out.Retryable = customer.ErrorCode(rejection[0]) == customer.CodeUnavailable
	} else {
		out.Status = command.Applied
		out.Event = command.EventOf(chk.Type)
		ch.State, ch.BaseVersion = state, base
		ch.History = redisstore.HistoryEntry{Event: out.Event, At: now, Actor: chk.Actor, CommandID: chk.ID}
		ch.Event = eventOf(chk, &out)
		// Listed before the apply that fills the outbox: see redisstore.NoteOutbox.
		if err := p.cfg.Store.NoteOutbox(ctx, chk.CustomerID, now); err != nil {
			return p.transient("note outbox", err)
		}
	}
	ch.Outcome = out
	stored, fresh, err := p.cfg.Store.Apply(ctx, ch)
	if errors.Is(err, redisstore.ErrStale) {
		return err
	}
	if err != nil {
		return p.transient("record outcome", err)
	}
	if !fresh {
		logger(ctx).Info("command was processed concurrently; using the stored outcome")
	}
	return p.finish(ctx, chk, stored)
}

// finish publishes a stored outcome and everything that follows from it.
// It runs again when a command is redelivered after a crash, so each step
// is idempotent (events are de-duplicated by id). The event was put in the
// customer's outbox by the apply; if this process dies before delivering
// it, the outbox relay does.
func (p *Provisioner) finish(ctx context.Context, chk *command.Checked, out *command.Outcome) error {
	log := logger(ctx)
	if out.Status == command.Applied {
		if err := p.deliver(ctx, eventOf(chk, out)); err != nil {
			return err
		}
		log.Info("command applied", "customer_version", out.CustomerVersion, "event", string(out.Event))
	} else {
		log.Info("command rejected", "errors", command.Reason(out.Errors))
	}
	if err := p.cfg.Publisher.PublishOutcome(ctx, out); err != nil {
		// The outcome is stored; a client can still look it up.
		log.Warn("could not publish outcome", "error", err.Error())
	}
	return nil
}

// eventOf is the event of an applied command.
func eventOf(chk *command.Checked, out *command.Outcome) *command.Event {
	ev := &command.Event{
		Version: command.WireVersion, ID: chk.ID, Type: command.EventOf(chk.Type), CustomerID: chk.CustomerID,
		PartnerID: chk.PartnerID, CustomerVersion: out.CustomerVersion, CommandID: chk.ID,
		Actor: chk.Actor, OccurredAt: out.ProcessedAt, Status: statusAfter(chk.Type),
	}
	if chk.Type == command.Terminate {
		r := chk.Retention
		ev.Retention = &r
	}
	return ev
}

// deliver does what follows from an applied command's event (a new
// customer is listed under its partner), publishes it, and removes it from
// the customer's outbox. Every step is idempotent.
func (p *Provisioner) deliver(ctx context.Context, ev *command.Event) error {
	if ev.Type == command.Registered {
		if err := p.cfg.Store.IndexCustomer(ctx, ev.PartnerID, ev.CustomerID); err != nil {
			return p.transient("index customer", err)
		}
	}
	if err := p.cfg.Publisher.PublishEvent(ctx, ev); err != nil {
		return p.transient("publish event", err)
	}
	if err := p.cfg.Store.DeliveredEvent(ctx, ev.CustomerID, ev.ID); err != nil {
		return p.transient("mark event delivered", err)
	}
	return nil
}

func statusAfter(t command.Type) customer.Status {
	switch t {
	case command.Register:
		return customer.StatusRegistered
	case command.Activate:
		return customer.StatusActive
	case command.Deactivate:
		return customer.StatusDeactivated
	case command.Terminate:
		return customer.StatusTerminated
	}
	return ""
}

// badMessage rejects a message that is not a valid command: the outcome is
// stored when the message names a usable command and customer id, it is
// published, what is known of the message (ids, subject, reason, size;
// never its body, which may hold plaintext contact info) is kept in the
// dead-letter stream, and the message is erased from the command stream.
func (p *Provisioner) badMessage(ctx context.Context, in Incoming, cmd *command.Command, why error) error {
	partnerToken, customerToken, _ := command.SubjectIDs(in.Subject)
	out := &command.Outcome{
		Version: command.WireVersion, Status: command.Rejected,
		Errors: customer.AsErrors(why), ProcessedAt: p.cfg.Now().UTC(),
		PartnerID: partnerToken, CustomerID: customerToken, CommandID: in.MsgID,
	}
	if cmd != nil {
		out.Type = cmd.Type
		if customer.ValidateID("id", cmd.ID) == nil {
			out.CommandID = cmd.ID
		}
	}
	if out.CommandID == "" {
		out.CommandID = "seq-" + in.StreamSeq
	}
	seq, _ := strconv.ParseUint(in.StreamSeq, 10, 64)
	// The dead letter tells what was wrong with this message, even when an
	// earlier outcome is stored under its id.
	dl := command.NewDeadLetter(out, in.Subject, in.MsgID, seq, len(in.Data), out.ProcessedAt)
	log := logger(ctx).With("command_id", out.CommandID)
	// Store the rejection when ids are usable, so command(id) and a
	// republished command get the same answer.
	if customer.ValidateID("id", out.CommandID) == nil && customer.ValidateID("customerId", customerToken) == nil {
		if err := p.cfg.Store.IndexCommand(ctx, partnerToken, out.CommandID, customerToken); err != nil {
			return p.transient("index command", err)
		}
		stored, _, err := p.cfg.Store.Apply(ctx, redisstore.Change{CustomerID: customerToken, CommandID: out.CommandID, Outcome: *out})
		if err != nil {
			return p.transient("record rejection", err)
		}
		out = stored
	}
	if err := p.cfg.Publisher.DeadLetter(ctx, dl); err != nil {
		return p.transient("dead-letter", err)
	}
	if err := p.erase(ctx, in); err != nil {
		return err
	}
	log.Warn("bad command dead-lettered", "reason", dl.Reason, "subject", in.Subject)
	observe(out.Type, nil, 0)
	if err := p.cfg.Publisher.PublishOutcome(ctx, out); err != nil {
		log.Warn("could not publish outcome", "error", err.Error())
	}
	return nil
}

type logKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// erase overwrites the message in the command stream (see
// Publisher.EraseCommand); messages without a stream sequence (not from
// the stream) have nothing to erase.
func (p *Provisioner) erase(ctx context.Context, in Incoming) error {
	seq, err := strconv.ParseUint(in.StreamSeq, 10, 64)
	if err != nil || seq == 0 {
		return nil
	}
	if err := p.cfg.Publisher.EraseCommand(ctx, seq); err != nil {
		return p.transient("erase the command", err)
	}
	return nil
}

// maxRetryAfter caps how long a Retry-After from Twilio holds a command;
// longer waits go through redelivery backoff instead.
const maxRetryAfter = 30 * time.Second

// honourRetryAfter waits as long as Twilio asked (Retry-After on a 429 or
// 503) before the command is retried, so a rate-limited Twilio is not
// hammered by the retry middleware's quick first attempts.
func (p *Provisioner) honourRetryAfter(ctx context.Context, err error) {
	var te *twilio.Error
	if !errors.As(err, &te) || te.RetryAfter <= 0 {
		return
	}
	wait := min(te.RetryAfter, maxRetryAfter)
	logger(ctx).Info("waiting as Twilio asked before retrying", "retry_after", wait.String())
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
}
