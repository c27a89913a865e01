package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/ledger"
)

// natsTarget publishes commands straight onto JetStream as the partner's
// direct publisher (docs/commands.md) and reads their outcomes from
// customers.outcome.<partnerId>.<commandId>.
type natsTarget struct {
	nc                    *nats.Conn
	js                    jetstream.JetStream
	partnerID, industryID string
	timeout               time.Duration
	republish             bool

	mu      sync.Mutex
	waiters map[string]chan *command.Outcome
}

// PartnerUser is the NATS user of a partner's direct publisher:
// partner- and the first 8 hex digits of its id.
func PartnerUser(partnerID string) string {
	if len(partnerID) < 8 {
		return "partner-" + partnerID
	}
	return "partner-" + partnerID[:8]
}

func newNATSTarget(cfg *Config) (*natsTarget, error) {
	user := cfg.NATSUser
	if user == "" {
		user = PartnerUser(cfg.PartnerID)
	}
	t := &natsTarget{partnerID: cfg.PartnerID, industryID: cfg.IndustryID, timeout: cfg.MutationTimeout,
		republish: cfg.Republish, waiters: map[string]chan *command.Outcome{}}
	nc, err := nats.Connect(cfg.NATSURL, nats.UserInfo(user, cfg.NATSPassword),
		nats.CustomInboxPrefix("_INBOX_"+user), nats.Name("textkit-load"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s as %s: %w", cfg.NATSURL, user, err)
	}
	t.nc = nc
	if _, err := nc.Subscribe(command.OutcomePrefix+"."+cfg.PartnerID+".>", t.receive); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to outcomes: %w", err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to outcomes: %w", err)
	}
	if t.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return t, nil
}

func (t *natsTarget) Name() string { return ledger.ViaNATS }

func (t *natsTarget) Close() error {
	t.nc.Close()
	return nil
}

func (t *natsTarget) receive(m *nats.Msg) {
	var out command.Outcome
	if json.Unmarshal(m.Data, &out) != nil {
		return
	}
	t.mu.Lock()
	ch := t.waiters[out.CommandID]
	t.mu.Unlock()
	if ch != nil {
		select {
		case ch <- &out:
		default:
		}
	}
}

// Send publishes the step's commands one after the other, each after the
// previous one's outcome, as the gateway runs a joined request.
func (t *natsTarget) Send(ctx context.Context, step Step) []Result {
	out := make([]Result, len(step.Ops))
	for i, op := range step.Ops {
		out[i] = t.one(ctx, op)
	}
	return out
}

func (t *natsTarget) one(ctx context.Context, op Op) Result {
	cmd, err := t.command(op)
	r := Result{CommandID: cmd.ID, SentAt: time.Now()}
	if err != nil {
		r.Answer, r.Code, r.Message, r.AnsweredAt = ledger.Error, "CLIENT", err.Error(), time.Now()
		return r
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		r.Answer, r.Code, r.Message, r.AnsweredAt = ledger.Error, "CLIENT", err.Error(), time.Now()
		return r
	}
	subject := command.CommandSubject(t.partnerID, op.CustomerID)
	if !t.republish {
		return t.publish(ctx, r, subject, body, cmd.ID, 1)
	}
	r = t.publish(ctx, r, subject, body, cmd.ID, 2)
	if r.Answer != ledger.Error { // an ERROR stored nothing: publishing it now would apply a command told failed
		// Once more after the answer, without Nats-Msg-Id, as after
		// JetStream's de-duplication window (10 minutes): stored again.
		again := t.publish(ctx, Result{CommandID: cmd.ID, SentAt: time.Now()}, subject, body, "", 1)
		r.Again = &again
	}
	return r
}

// publish publishes the command body times times at once under msgID
// (none when "") and waits for its outcome; r holds its id and send time.
func (t *natsTarget) publish(ctx context.Context, r Result, subject string, body []byte, msgID string, times int) Result {
	ch := make(chan *command.Outcome, 1)
	t.mu.Lock()
	t.waiters[r.CommandID] = ch
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.waiters, r.CommandID)
		t.mu.Unlock()
	}()
	wctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := t.js.Publish(wctx, subject, body, opts...); err != nil {
		r.AnsweredAt = time.Now()
		return publishFailed(r, err)
	}
	for range times - 1 {
		// The same message again: stored once already, so whatever this
		// publish meets says nothing of the command.
		_, _ = t.js.Publish(wctx, subject, body, opts...)
	}
	select {
	case o := <-ch:
		return outcomeResult(r, o)
	case <-wctx.Done():
		r.Answer, r.Code, r.Retryable, r.AnsweredAt = ledger.Timeout, "TIMEOUT", true, time.Now()
		r.Message = "no outcome within " + t.timeout.String()
		return r
	}
}

// publishFailed is the answer to a publish without an acknowledgement:
// the message may still have been stored (or be delivered from the
// client's reconnect buffer), so the outcome is unknown (TIMEOUT), except
// when the client refused to send it at all or JetStream answered that it
// stored nothing (ERROR).
func publishFailed(r Result, err error) Result {
	r.Message, r.Retryable = err.Error(), true
	var refused *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrConnectionClosed):
		r.Answer, r.Code, r.Retryable = ledger.Error, "NOT_SENT", false
	case errors.As(err, &refused):
		// the stream answered with an error (a limit): nothing stored
		r.Answer, r.Code = ledger.Error, "PUBLISH_REFUSED"
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		// no stream listens on the subject: nothing stored
		r.Answer, r.Code = ledger.Error, "NO_STREAM"
	default:
		r.Answer, r.Code = ledger.Timeout, "PUBLISH_UNCONFIRMED"
	}
	return r
}

func outcomeResult(r Result, o *command.Outcome) Result {
	r.AnsweredAt = time.Now()
	if o.CustomerVersion > 0 {
		v := o.CustomerVersion
		r.CustomerVersion = &v
	}
	r.Retryable = o.Retryable
	if o.Status == command.Applied {
		r.Answer = ledger.Applied
		return r
	}
	r.Answer, r.Code = ledger.Rejected, string(customer.CodeInternal)
	if len(o.Errors) > 0 {
		r.Code, r.Message = string(o.Errors[0].Code), o.Errors[0].Message
	}
	return r
}

// command builds the wire command of op.
func (t *natsTarget) command(op Op) (*command.Command, error) {
	cmd := &command.Command{
		Version: command.WireVersion, ID: uuid.NewString(), Type: op.Type.Command(),
		CustomerID: op.CustomerID, PartnerID: t.partnerID, ExpectedVersion: op.ExpectedVersion,
		IssuedAt: time.Now().UTC(),
	}
	var payload any
	switch op.Type {
	case ledger.Register:
		payload = command.RegisterPayload{Space: op.Space, IndustryID: t.industryID, Label: op.Label}
	case ledger.UpdateContactInfo:
		c := op.Contact
		payload = command.ContactInfoPayload{ContactInfo: &customer.ContactInfo{
			BusinessName: c.BusinessName, PhoneNumber: c.PhoneNumber, AddressLine1: c.AddressLine1,
			PostalCode: c.PostalCode, Province: c.Province, Country: c.Country,
		}}
	case ledger.Terminate:
		ri := command.RetentionInput{Strategy: op.Retention}
		if op.Period > 0 {
			p := op.Period
			ri.Period = &p
		}
		payload = command.TerminatePayload{Retention: ri}
	}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return cmd, fmt.Errorf("encode payload: %w", err)
		}
		cmd.Payload = b
	}
	return cmd, nil
}
