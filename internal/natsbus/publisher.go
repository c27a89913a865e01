package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
)

// Headers set on dead letters, repeating fields of their JSON body
// (command.DeadLetter) so that an operator can filter on them.
const (
	HeaderDeadLetterReason  = "Textkit-Dlq-Reason"
	HeaderOriginalSubject   = "Textkit-Original-Subject"
	HeaderOriginalMsgID     = "Textkit-Original-Msg-Id"
	HeaderOriginalStreamSeq = "Textkit-Original-Stream-Seq"
)

// Publisher publishes what the provisioner produces: outcomes (core NATS,
// since they are also stored in Redis), events and dead letters (JetStream,
// de-duplicated by id, sent again while unanswered: see publishOnce).
type Publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// NewPublisher returns a publisher on nc.
func NewPublisher(nc *nats.Conn) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Publisher{nc: nc, js: js}, nil
}

// PublishOutcome publishes o on its outcome subject.
func (p *Publisher) PublishOutcome(ctx context.Context, o *command.Outcome) error {
	partner := o.PartnerID
	if partner == "" {
		partner = "unknown"
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := p.nc.PublishMsg(withTrace(ctx, command.OutcomeSubject(partner, o.CommandID), b)); err != nil {
		return fmt.Errorf("publish outcome %s: %w", o.CommandID, err)
	}
	return nil
}

// PublishEvent stores e in the event stream; e.ID de-duplicates it.
func (p *Publisher) PublishEvent(ctx context.Context, e *command.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	subj := command.EventSubject(e.PartnerID, e.CustomerID, e.Type)
	if isKeyEvent(e.Type) {
		subj = command.KeyEventSubject(e.PartnerID, e.CustomerID)
	}
	if _, err := publishOnce(ctx, p.js, withTrace(ctx, subj, b), e.ID); err != nil {
		return fmt.Errorf("publish event %s: %w", e.ID, err)
	}
	return nil
}

func isKeyEvent(t command.EventType) bool {
	switch t {
	case command.KeyCreated, command.KeyScheduled, command.KeyDestroyed:
		return true
	}
	return false
}

// DeadLetter keeps what is known of a rejected message in the dead-letter
// stream, on the subject of its partner (the subject's partner token, or
// "unknown"): dl as JSON, and the reason, subject, command id and stream
// sequence also as headers. Never the message itself: it may carry
// plaintext contact info, which the dead-letter stream would keep beyond
// the command's erase and the customer's key. The dead letter is
// de-duplicated by the original's stream sequence and command id.
func (p *Publisher) DeadLetter(ctx context.Context, dl *command.DeadLetter) error {
	b, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("dead-letter message %s: %w", dl.CommandID, err)
	}
	partner := dl.PartnerID
	if partner == "" {
		partner = "unknown"
	}
	seq := strconv.FormatUint(dl.StreamSequence, 10)
	msg := withTrace(ctx, command.DeadLetterSubject(partner), b)
	msg.Header.Set(HeaderDeadLetterReason, dl.Reason)
	msg.Header.Set(HeaderOriginalSubject, dl.Subject)
	msg.Header.Set(HeaderOriginalMsgID, dl.CommandID)
	msg.Header.Set(HeaderOriginalStreamSeq, seq)
	if _, err := publishOnce(ctx, p.js, msg, "dlq-"+seq+"-"+dl.CommandID); err != nil {
		return fmt.Errorf("dead-letter message %s: %w", dl.CommandID, err)
	}
	return nil
}

// EraseCommand overwrites and deletes a processed command in the command
// stream. A command carrying plaintext contact info is erased before it is
// acknowledged: a plain removal (work-queue retention) would only mark it
// deleted and leave its bytes in the stream's files until the block is
// compacted. A command that is gone already counts as erased.
func (p *Publisher) EraseCommand(ctx context.Context, streamSeq uint64) error {
	s, err := p.js.Stream(ctx, CommandStream)
	if err != nil {
		return fmt.Errorf("erase command %d: %w", streamSeq, err)
	}
	if err := s.SecureDeleteMsg(ctx, streamSeq); err != nil && !msgGone(err) {
		return fmt.Errorf("erase command %d: %w", streamSeq, err)
	}
	return nil
}

// JetStream error codes of a deletion whose message is not there.
const (
	jsErrSequenceNotFound jetstream.ErrorCode = 10043 // "sequence N not found"
	jsErrNoMessageFound   jetstream.ErrorCode = 10057 // "no message found"
)

// msgGone reports whether a message deletion failed because the message
// is not in the stream (any more). nats.go flattens the API error of a
// deletion into its message (ErrMsgDeleteUnsuccessful), so its code is
// looked for there too.
func msgGone(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jsErrSequenceNotFound || apiErr.ErrorCode == jsErrNoMessageFound) {
		return true
	}
	msg := err.Error()
	return errors.Is(err, jetstream.ErrMsgNotFound) || strings.Contains(msg, "no message found") ||
		strings.Contains(msg, fmt.Sprintf("err_code=%d ", jsErrSequenceNotFound)) || strings.Contains(msg, fmt.Sprintf("err_code=%d ", jsErrNoMessageFound))
}
