package provisioner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
)

// partner returns JetStream on the seed partner's own NATS user, as a
// direct publisher connects, and a channel of the asynchronous errors
// (permissions violations) the server sends it.
func (h *harness) partner(t *testing.T) (jetstream.JetStream, <-chan error) {
	t.Helper()
	errs := make(chan error, 32)
	nc := h.stack.NATS.Connect(t, natstest.SeedPartnerUser, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, errs
}

// streamMessages reads every message stored in stream, by sequence.
func streamMessages(t *testing.T, js jetstream.JetStream, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("read %s #%d: %v", name, seq, err)
		}
		out = append(out, m)
	}
	if uint64(len(out)) != info.State.Msgs {
		t.Fatalf("read %d messages of %s, it holds %d", len(out), name, info.State.Msgs)
	}
	return out
}

// filesHolding returns the files under dir that contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestRejectedContactInfoIsNotDeadLetteredInPlaintext: a partner's
// command with plaintext contact info and an invalid postal code is
// rejected and dead-lettered with the reason and the field at fault, and
// its contact info is nowhere in JetStream afterwards: not in any message
// of the dead-letter stream, not in the command stream, not in any file of
// the store.
func TestRejectedContactInfoIsNotDeadLetteredInPlaintext(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()
	canary := "Canary" + strings.ReplaceAll(uuid.NewString(), "-", "")
	id := uuid.NewString()
	ci := spec
	ci.BusinessName, ci.SecondaryName = canary+" Inc.", canary
	ci.AddressLine1, ci.AddressLine2 = "1 "+canary+" St", "Suite "+canary
	ci.PostalCode = "W5E 1E5" // Canadian postal codes do not start with W
	cmd := newCmd(command.UpdateContactInfo, id, command.ContactInfoPayload{ContactInfo: &ci})
	body := mustEncode(cmd)
	if !bytes.Contains(body, []byte(canary)) {
		t.Fatal("the command does not carry the canary")
	}

	pjs, _ := h.partner(t)
	ack, err := pjs.Publish(ctx, command.CommandSubject(partnerID, id), body, jetstream.WithMsgID(cmd.ID))
	if err != nil {
		t.Fatal(err)
	}
	o := h.outcome(cmd.ID)
	mustRejected(t, o, customer.CodeInvalid)
	if o.Errors[0].Field != "payload.contactInfo.postalCode" {
		t.Fatalf("rejected for %v, want the postal code", o.Err())
	}

	js, err := jetstream.New(h.stack.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	// A control: a canary the scans below must find, so that they prove
	// something.
	control := "Control" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := js.Publish(ctx, command.DeadLetterSubject("control"), []byte(control)); err != nil {
		t.Fatal(err)
	}

	var dl *command.DeadLetter
	controlRead := false
	for _, m := range streamMessages(t, js, natsbus.DeadLetterStream) {
		raw := append([]byte(m.Subject), m.Data...)
		for k, vs := range m.Header {
			raw = append(raw, k...)
			for _, v := range vs {
				raw = append(raw, v...)
			}
		}
		if bytes.Contains(raw, []byte(canary)) {
			t.Errorf("dead letter #%d holds the contact info: %s", m.Sequence, raw)
		}
		controlRead = controlRead || bytes.Contains(raw, []byte(control))
		var d command.DeadLetter
		if json.Unmarshal(m.Data, &d) == nil && d.CommandID == cmd.ID {
			dl = &d
			if got := m.Header.Get(natsbus.HeaderDeadLetterReason); got != d.Reason {
				t.Errorf("header reason %q, body reason %q", got, d.Reason)
			}
		}
	}
	if !controlRead {
		t.Fatal("control: reading the dead-letter stream did not find the control canary")
	}
	if dl == nil {
		t.Fatal("no dead letter of the rejected command")
	}
	wantSubject := command.PartitionSubject(natsbus.PartitionOf(id), partnerID, id)
	if dl.Version != command.WireVersion || dl.MsgID != cmd.ID || dl.Type != command.UpdateContactInfo ||
		dl.PartnerID != partnerID || dl.CustomerID != id || dl.Subject != wantSubject ||
		dl.StreamSequence != ack.Sequence || dl.Size != len(body) || dl.DeadLetteredAt.IsZero() {
		t.Errorf("dead letter %+v; want ids, type %s, subject %s, sequence %d, size %d", dl, command.UpdateContactInfo, wantSubject, ack.Sequence, len(body))
	}
	if !strings.Contains(dl.Reason, "payload.contactInfo.postalCode") || len(dl.Errors) != 1 ||
		dl.Errors[0].Field != "payload.contactInfo.postalCode" || dl.Errors[0].Code != customer.CodeInvalid {
		t.Errorf("dead letter reason %q, errors %v; want the postal code's", dl.Reason, dl.Errors)
	}

	// The command itself is gone from the command stream...
	if n := len(streamMessages(t, js, natsbus.CommandStream)); n != 0 {
		t.Errorf("the command stream still holds %d messages", n)
	}
	// ...and from every file JetStream wrote.
	if files := filesHolding(t, h.stack.NATS.StoreDir, []byte(control)); len(files) == 0 {
		t.Fatal("control: the store holds no file with the control canary, so the scan proves nothing")
	}
	if files := filesHolding(t, h.stack.NATS.StoreDir, []byte(canary)); len(files) > 0 {
		t.Errorf("the contact info is still on disk in %v", files)
	}
}

// TestMisroutedCommandIsRefusedAndItsIDStaysUsable: a direct publisher's
// command sent to a partition subject no consumer reads, or of another
// shape, is refused at publish time; the same command then published as
// the docs say is stored and applied, not dropped as a duplicate. One sent
// to a valid partition that is not its customer's is still taken by that
// partition's consumer and rejected.
func TestMisroutedCommandIsRefusedAndItsIDStaysUsable(t *testing.T) {
	h := newHarness(t)
	h.start(t)
	ctx := context.Background()
	pjs, errs := h.partner(t)
	id := uuid.NewString()
	part := natsbus.PartitionOf(id)
	reg := registerCmd(id, "misrouted-"+id[:8])
	body := mustEncode(reg)
	for _, subj := range []string{
		command.PartitionPrefix + ".99." + partnerID + "." + id,
		command.PartitionPrefix + ".0" + strconv.Itoa(part) + "." + partnerID + "." + id,
		command.PartitionPrefix + "." + strconv.Itoa(part) + "." + partnerID,
		command.PartitionSubject(part, partnerID, id) + ".x",
	} {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := pjs.Publish(pctx, subj, body, jetstream.WithMsgID(reg.ID))
		cancel()
		if err == nil {
			t.Fatalf("publish to %s was acknowledged", subj)
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subj) {
				t.Fatalf("publish to %s: %v, want a permissions violation", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("publish to %s: %v, and no permissions violation", subj, err)
		}
	}
	ack, err := pjs.Publish(ctx, command.CommandSubject(partnerID, id), body, jetstream.WithMsgID(reg.ID))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Duplicate {
		t.Fatal("the refused publishes used up the command id")
	}
	mustApplied(t, h.outcome(reg.ID))

	act := newCmd(command.Activate, id, nil)
	wrong := command.PartitionSubject((part+5)%natsbus.Partitions, partnerID, id)
	if _, err := pjs.Publish(ctx, wrong, mustEncode(act), jetstream.WithMsgID(act.ID)); err != nil {
		t.Fatalf("publish to another valid partition: %v", err)
	}
	o := h.outcome(act.ID)
	mustRejected(t, o, customer.CodeInvalid)
	if o.Errors[0].Field != "subject" {
		t.Fatalf("a command in another customer's partition: %v, want the subject at fault", o.Err())
	}
}
