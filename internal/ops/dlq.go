package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
)

// Letter is one dead letter as an operator sees it: its place in the
// dead-letter stream and what the provisioner recorded (never the message
// itself). Original says whether the command it names is still in the
// command stream (it normally is not: a dead-lettered command is erased).
type Letter struct {
	Seq        uint64             `json:"seq"`
	StoredAt   time.Time          `json:"storedAt"`
	DeadLetter command.DeadLetter `json:"deadLetter"`
	Original   bool               `json:"originalInCommandStream"`
}

// DLQ reads and repairs the dead-letter stream.
type DLQ struct {
	js jetstream.JetStream
}

// NewDLQ returns a DLQ over js; its user needs the JetStream API of the
// command and dead-letter streams (the provisioner's user has it).
func NewDLQ(js jetstream.JetStream) *DLQ { return &DLQ{js: js} }

// List returns up to limit dead letters, oldest first.
func (d *DLQ) List(ctx context.Context, limit int) ([]Letter, error) {
	s, err := d.js.Stream(ctx, natsbus.DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	out := []Letter{}
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && len(out) < limit; seq++ {
		l, err := d.Show(ctx, seq)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Show returns the dead letter at seq in the dead-letter stream.
func (d *DLQ) Show(ctx context.Context, seq uint64) (Letter, error) {
	msg, err := getMsg(ctx, d.js, natsbus.DeadLetterStream, seq)
	if err != nil {
		return Letter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	l := Letter{Seq: seq, StoredAt: msg.Time.UTC()}
	if err := json.Unmarshal(msg.Data, &l.DeadLetter); err != nil {
		return Letter{}, fmt.Errorf("dead letter %d is not a dead letter document: %w", seq, err)
	}
	if l.DeadLetter.StreamSequence > 0 {
		_, err := getMsg(ctx, d.js, natsbus.CommandStream, l.DeadLetter.StreamSequence)
		switch {
		case err == nil:
			l.Original = true
		case !errors.Is(err, ErrNotFound):
			return Letter{}, fmt.Errorf("dead letter %d: original command: %w", seq, err)
		}
	}
	return l, nil
}

// getMsg reads one message, ErrNotFound when the sequence holds none.
func getMsg(ctx context.Context, js jetstream.JetStream, stream string, seq uint64) (*jetstream.RawStreamMsg, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	msg, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: no message %d in %s", ErrNotFound, seq, stream)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s message %d: %w", stream, seq, err)
	}
	return msg, nil
}

// Replayed says what Replay published.
type Replayed struct {
	Seq          uint64 `json:"seq"`
	OldCommandID string `json:"oldCommandId"`
	NewCommandID string `json:"newCommandId"`
	Subject      string `json:"subject"`
	StreamSeq    uint64 `json:"streamSequence"`
}

// Replay publishes the command the dead letter at seq names again, read
// from the command stream, with a new command id (body id and
// Nats-Msg-Id), on its original subject through pub, a connection whose
// user may publish there (the gateway's for a gateway command, the
// partner's direct publisher for a direct one). Run it after the cause is
// fixed. When the original is gone (a dead-lettered command is erased once
// its dead letter is written) the error wraps ErrNotFound.
func (d *DLQ) Replay(ctx context.Context, seq uint64, pub jetstream.JetStream) (Replayed, error) {
	l, err := d.Show(ctx, seq)
	if err != nil {
		return Replayed{}, err
	}
	dl := l.DeadLetter
	if dl.StreamSequence == 0 {
		return Replayed{}, fmt.Errorf("%w: dead letter %d names no command stream sequence, nothing to replay", ErrNotFound, seq)
	}
	orig, err := getMsg(ctx, d.js, natsbus.CommandStream, dl.StreamSequence)
	if errors.Is(err, ErrNotFound) {
		return Replayed{}, fmt.Errorf("%w: command %s (sequence %d) was erased from %s; it cannot be replayed, ask its publisher to send it again",
			ErrNotFound, dl.CommandID, dl.StreamSequence, natsbus.CommandStream)
	}
	if err != nil {
		return Replayed{}, err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(orig.Data, &body); err != nil {
		return Replayed{}, fmt.Errorf("command %s is not a JSON object and cannot be replayed (only its publisher can send a valid one)", dl.CommandID)
	}
	newID := uuid.NewString()
	body["id"], _ = json.Marshal(newID)
	data, err := json.Marshal(body)
	if err != nil {
		return Replayed{}, fmt.Errorf("replay %s: %w", dl.CommandID, err)
	}
	msg := nats.NewMsg(orig.Subject)
	msg.Data = data
	ack, err := pub.PublishMsg(ctx, msg, jetstream.WithMsgID(newID), jetstream.WithExpectStream(natsbus.CommandStream))
	if err != nil {
		return Replayed{}, fmt.Errorf("replay %s on %s: %w", dl.CommandID, orig.Subject, err)
	}
	return Replayed{Seq: seq, OldCommandID: dl.CommandID, NewCommandID: newID, Subject: orig.Subject, StreamSeq: ack.Sequence}, nil
}

// Purged says what Purge erased.
type Purged struct {
	Seq      uint64 `json:"seq"`
	Original bool   `json:"originalErased"`
}

// Purge erases the dead letter at seq and, if it is still there, the
// command it names, both with JetStream's secure delete (the bytes are
// overwritten, not only marked deleted).
func (d *DLQ) Purge(ctx context.Context, seq uint64) (Purged, error) {
	l, err := d.Show(ctx, seq)
	if err != nil {
		return Purged{}, err
	}
	p := Purged{Seq: seq}
	if l.Original {
		if err := secureDelete(ctx, d.js, natsbus.CommandStream, l.DeadLetter.StreamSequence); err != nil {
			return Purged{}, err
		}
		p.Original = true
	}
	if err := secureDelete(ctx, d.js, natsbus.DeadLetterStream, seq); err != nil {
		return Purged{}, err
	}
	return p, nil
}

// secureDelete overwrites and removes one message; one already gone is fine.
func secureDelete(ctx context.Context, js jetstream.JetStream, stream string, seq uint64) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	err = s.SecureDeleteMsg(ctx, seq)
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) && !strings.Contains(err.Error(), "no message found") {
		return fmt.Errorf("erase message %d of %s: %w", seq, stream, err)
	}
	return nil
}
