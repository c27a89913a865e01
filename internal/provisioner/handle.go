package provisioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/telemetry"
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

// Handle processes one command message. It returns nil when the message is
// finished (applied, rejected or dead-lettered) and an error when it should
// be redelivered later.
func (p *Provisioner) Handle(ctx context.Context, in Incoming) (err error) {
	start := p.cfg.Now()
	ctx, span := telemetry.Start(ctx, "provisioner handle", trace.SpanKindConsumer,
		attribute.String("messaging.destination.name", in.Subject), attribute.String("messaging.message.id", in.MsgID))
	defer func() { telemetry.End(span, err) }()
	traced := p.cfg.Logger.With(telemetry.LogAttrs(ctx)...)
	ctx = withLogger(ctx, traced.With("subject", in.Subject, "nats_msg_id", in.MsgID))
	cmd, err := command.Decode(in.Data)
	if err != nil {
		return p.badMessage(ctx, in, nil, err)
	}
	span.SetAttributes(attribute.String("textkit.command.type", string(cmd.Type)), attribute.String("textkit.customer.id", cmd.CustomerID))
	ctx = withLogger(ctx, traced.With("command_id", cmd.ID, "command_type", string(cmd.Type), "customer_id", cmd.CustomerID))
	chk, err := checkIncoming(in, cmd)
	if err != nil {
		return p.badMessage(ctx, in, cmd, err)
	}
	prev, err := p.storedOutcome(ctx, chk)
	if err != nil {
		return err
	}
	if prev != nil && !prev.Retryable {
		return p.replay(ctx, in, chk, prev)
	}
	err = p.execute(ctx, chk)
	if err == nil && chk.Contact != nil {
		// Plaintext personal data: overwrite it in the stream now rather
		// than leave it to the work queue's plain removal.
		err = p.erase(ctx, in)
	}
	observe(chk.Type, err, p.cfg.Now().Sub(start))
	if err != nil {
		logger(ctx).Warn("command failed; it will be redelivered", "error", err.Error())
		p.honourRetryAfter(ctx, err)
	}
	return err
}

// checkIncoming checks a decoded command on its own (command.Check) and
// against the message that carried it: its id is the Nats-Msg-Id header,
// it was not published to a partition directly, and its actor is believed
// only when the gateway sent it.
func checkIncoming(in Incoming, cmd *command.Command) (*command.Checked, error) {
	if in.MsgID != "" && in.MsgID != cmd.ID {
		return nil, customer.Invalid("id", "must equal the Nats-Msg-Id header %q", in.MsgID)
	}
	chk, err := command.Check(cmd, in.Subject)
	if err != nil {
		return nil, err
	}
	if part, ok := partitionOfSubject(in.Subject); ok && part != natsbus.PartitionOf(cmd.CustomerID) {
		return nil, customer.Invalid("subject",
			"was published to partition %d directly; publish to %s", part, command.CommandSubject(cmd.PartnerID, cmd.CustomerID))
	}
	if !command.FromGateway(in.Subject) || chk.Actor == "" {
		// A direct publisher's claim about who it is cannot be checked.
		chk.Actor = "nats:" + chk.PartnerID
	}
	return chk, nil
}

func partitionOfSubject(subject string) (int, bool) {
	var part int
	var rest string
	if _, err := fmt.Sscanf(subject, command.PartitionPrefix+".%d.%s", &part, &rest); err != nil {
		return 0, false
	}
	return part, true
}

// storedOutcome indexes the command under its partner and returns the
// final outcome already stored for it; if there is none, it claims the
// command (before any side effect: the gateway, which settles commands it
// could not confirm sent, yields to a claim) and returns nil.
func (p *Provisioner) storedOutcome(ctx context.Context, chk *command.Checked) (*command.Outcome, error) {
	prev, err := p.cfg.Store.IndexAndClaim(ctx, chk.PartnerID, chk.CustomerID, chk.ID)
	if err != nil {
		return nil, p.transient("index and claim command", err)
	}
	return prev, nil
}

// replay answers a command that was already processed with its stored
// outcome, published again (finish), instead of executing it twice; its
// plaintext contact info, if any, is erased from the stream as on the
// first delivery.
func (p *Provisioner) replay(ctx context.Context, in Incoming, chk *command.Checked, prev *command.Outcome) error {
	logger(ctx).Info("command already processed; republishing its outcome", "status", string(prev.Status))
	if err := p.finish(ctx, chk, prev); err != nil {
		return err
	}
	if chk.Contact != nil {
		return p.erase(ctx, in)
	}
	return nil
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
		stored, err := p.cfg.Store.Reject(ctx, *out)
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
	deadLettersTotal.Inc()
	observeRejection(out)
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
