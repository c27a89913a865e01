package command

import (
	"strings"
	"time"

	"github.com/textkit/customers/internal/customer"
)

// DeadLetter is what the dead-letter stream keeps of a rejected message:
// where it came from, which command it claimed to be, why it was rejected
// and how large it was, so an operator can find and diagnose it. It never
// holds the message itself: a direct publisher's command may carry
// plaintext contact info, and a dead letter outlives the command stream's
// erase and the customer's key. docs/schemas/deadletter.v1.json describes it.
type DeadLetter struct {
	Version int `json:"version"`
	// CommandID is the id the outcome was stored and published under: the
	// body's id, else the Nats-Msg-Id header, else seq-<stream sequence>.
	CommandID string `json:"commandId"`
	// MsgID is the Nats-Msg-Id header as received, "" if none.
	MsgID string `json:"msgId,omitempty"`
	// Type is the command's type, only when the body decoded and named a
	// known type (an unknown one is free text from the publisher).
	Type Type `json:"type,omitempty"`
	// PartnerID and CustomerID are the subject's tokens.
	PartnerID  string `json:"partnerId,omitempty"`
	CustomerID string `json:"customerId,omitempty"`
	// Subject is the subject the message was stored on (a partition subject).
	Subject string `json:"subject"`
	// StreamSequence is the message's sequence in the command stream.
	StreamSequence uint64 `json:"streamSequence,omitempty"`
	// Reason is the errors as one line: "CODE: field: message; …".
	Reason string `json:"reason"`
	// Errors are the errors of the outcome; their messages name fields and
	// expected formats, never the values received.
	Errors []*customer.Error `json:"errors"`
	// Size is the length of the rejected message's body in bytes.
	Size int `json:"size"`
	// DeadLetteredAt is when the provisioner rejected it.
	DeadLetteredAt time.Time `json:"deadLetteredAt"`
}

// NewDeadLetter returns the dead letter of a message rejected with out,
// received on subject with the Nats-Msg-Id msgID at streamSeq, size bytes
// long, rejected at at. Only a known type of out is kept.
func NewDeadLetter(out *Outcome, subject, msgID string, streamSeq uint64, size int, at time.Time) *DeadLetter {
	dl := &DeadLetter{
		Version: WireVersion, CommandID: out.CommandID, MsgID: msgID,
		PartnerID: out.PartnerID, CustomerID: out.CustomerID, Subject: subject, StreamSequence: streamSeq,
		Reason: Reason(out.Errors), Errors: out.Errors, Size: size, DeadLetteredAt: at.UTC(),
	}
	if out.Type.Known() {
		dl.Type = out.Type
	}
	return dl
}

// Reason joins errs into one line, "CODE: field: message; …".
func Reason(errs []*customer.Error) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(string(e.Code) + ": " + e.Error())
	}
	return b.String()
}
