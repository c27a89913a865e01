package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
)

// setupWith is setup with stream limits l.
func setupWith(t *testing.T, l natsbus.StreamLimits) (*natstest.Server, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Start(t)
	js, err := jetstream.New(srv.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := natsbus.EnsureStreams(ctx, js, l); err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsurePartitionConsumers(ctx, js, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return srv, js
}

// TestEveryStreamIsBounded: every stream has a size and an age limit, and
// the defaults fit in the JetStream storage nats.conf gives the server.
func TestEveryStreamIsBounded(t *testing.T) {
	conf, err := os.ReadFile(natstest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`max_file_store: (\d+)GB`).FindSubmatch(conf)
	if m == nil {
		t.Fatal("nats.conf sets no max_file_store in GB")
	}
	gb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	var total int64
	for _, cfg := range natsbus.StreamConfigs(natsbus.StreamLimits{}) {
		if cfg.MaxBytes <= 0 || cfg.MaxAge <= 0 {
			t.Errorf("stream %s: MaxBytes %d, MaxAge %v; want both bounded", cfg.Name, cfg.MaxBytes, cfg.MaxAge)
		}
		total += cfg.MaxBytes
	}
	if total > gb<<30 {
		t.Errorf("the streams may take %d bytes, more than nats.conf's max_file_store %dGB", total, gb)
	}
	// docs/commands.md tells partners the limits.
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(natstest.ConfigPath()), "..", "..", "docs", "commands.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("**%d**", natsbus.DefaultCommandMaxPerCustomer),
		fmt.Sprintf("**%d GiB**", natsbus.DefaultCommandMaxBytes>>30),
		fmt.Sprintf("(%d GiB)", natsbus.DefaultEventMaxBytes>>30),
		fmt.Sprintf("(%d MiB, at most %s dead", natsbus.DefaultDeadLetterMaxBytes>>20, "100 000"),
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/commands.md does not state the limit %s", want)
		}
	}
	if natsbus.DefaultDeadLetterMaxPerPartner != 100_000 {
		t.Error("docs/commands.md states 100 000 dead letters per partner")
	}
	// One customer's backlog (both subjects at their cap) fills at most a
	// quarter of its partition consumer's window: it cannot hold the
	// partition's other customers behind it (the partner-flood scenario).
	if backlog := 2 * natsbus.DefaultCommandMaxPerCustomer; 4*backlog > natsbus.PartitionMaxAckPending {
		t.Errorf("one customer may have %d commands waiting, more than a quarter of its partition's %d in flight",
			backlog, natsbus.PartitionMaxAckPending)
	}
	cmd := commandStreamConfig(t, natsbus.StreamLimits{})
	if cmd.MaxMsgsPerSubject != natsbus.DefaultCommandMaxPerCustomer || !cmd.DiscardNewPerSubject || cmd.Discard != jetstream.DiscardNew {
		t.Errorf("command stream: MaxMsgsPerSubject %d, DiscardNewPerSubject %v, Discard %v; want a per-customer cap that refuses new commands",
			cmd.MaxMsgsPerSubject, cmd.DiscardNewPerSubject, cmd.Discard)
	}
}

// TestStreamsOfAnEarlierVersionAreUpdated: a deployment's streams, created
// with the earlier configuration (the command stream on customers.cmdp.>,
// no size limits), take the new one.
func TestStreamsOfAnEarlierVersionAreUpdated(t *testing.T) {
	srv := natstest.Start(t)
	js, err := jetstream.New(srv.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cfg := range natsbus.StreamConfigs(natsbus.StreamLimits{}) {
		old := cfg
		old.MaxBytes, old.MaxMsgsPerSubject, old.DiscardNewPerSubject, old.Discard = 0, 0, false, jetstream.DiscardOld
		if cfg.Name == natsbus.CommandStream {
			old.Subjects, old.Discard = []string{command.PartitionPrefix + ".>"}, jetstream.DiscardNew
		}
		if _, err := js.CreateStream(ctx, old); err != nil {
			t.Fatalf("create the earlier %s: %v", cfg.Name, err)
		}
	}
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range natsbus.StreamConfigs(natsbus.StreamLimits{}) {
		s, err := js.Stream(ctx, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := s.CachedInfo().Config
		if want.MaxMsgsPerSubject == 0 {
			want.MaxMsgsPerSubject = -1 // how the server writes "no limit"
		}
		if strings.Join(got.Subjects, " ") != strings.Join(want.Subjects, " ") || got.MaxBytes != want.MaxBytes ||
			got.MaxMsgsPerSubject != want.MaxMsgsPerSubject || got.DiscardNewPerSubject != want.DiscardNewPerSubject || got.Discard != want.Discard {
			t.Errorf("%s after the update: subjects %v, MaxBytes %d, per subject %d (discard new %v), discard %v",
				want.Name, got.Subjects, got.MaxBytes, got.MaxMsgsPerSubject, got.DiscardNewPerSubject, got.Discard)
		}
	}
}

// TestCustomerBacklogIsCapped: beyond CommandMaxPerCustomer waiting
// commands, a publish for that customer is refused with a clear error and
// nothing stored; other customers are not affected, and the refused id is
// stored once there is room (not dropped as a duplicate).
func TestCustomerBacklogIsCapped(t *testing.T) {
	srv, js := setupWith(t, natsbus.StreamLimits{CommandMaxPerCustomer: 2})
	ctx := context.Background()
	pjs, err := jetstream.New(srv.Connect(t, natstest.SeedPartnerUser))
	if err != nil {
		t.Fatal(err)
	}
	customer := uuid.NewString()
	subj := command.CommandSubject(partnerA, customer)
	var first uint64
	for i := 0; i < 2; i++ {
		ack, err := pjs.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID(uuid.NewString()))
		if err != nil {
			t.Fatalf("command %d of the customer: %v", i+1, err)
		}
		if i == 0 {
			first = ack.Sequence
		}
	}
	id := uuid.NewString()
	_, err = pjs.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID(id))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "maximum messages per subject exceeded") {
		t.Fatalf("a third waiting command: %v; want the stream to refuse it", err)
	}
	// The gateway's form of the same customer is another subject (its own
	// cap), and other customers are not held up.
	gw, err := natsbus.NewCommandPublisher(srv.Connect(t, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	other := &command.Command{Version: command.WireVersion, ID: uuid.NewString(), Type: command.Activate, CustomerID: uuid.NewString(), PartnerID: partnerA}
	if err := gw.PublishCommand(ctx, other); err != nil {
		t.Fatalf("another customer: %v", err)
	}
	if _, err := pjs.Publish(ctx, command.CommandSubject(partnerA, uuid.NewString()), []byte(`{}`), jetstream.WithMsgID(uuid.NewString())); err != nil {
		t.Fatalf("another customer of the partner: %v", err)
	}
	// The gateway's publisher says what happened.
	full := &command.Command{Version: command.WireVersion, ID: uuid.NewString(), Type: command.Activate, CustomerID: customer, PartnerID: partnerA}
	for i := 0; i < 2; i++ {
		c := *full
		c.ID = uuid.NewString()
		if err := gw.PublishCommand(ctx, &c); err != nil {
			t.Fatalf("gateway command %d: %v", i+1, err)
		}
	}
	err = gw.PublishCommand(ctx, full)
	if !errors.Is(err, natsbus.ErrCommandStreamFull) || !strings.Contains(err.Error(), "too many commands of this customer are waiting") {
		t.Fatalf("the gateway's third waiting command: %v; want %v saying why", err, natsbus.ErrCommandStreamFull)
	}

	// Room again (the provisioner took the first): the refused id is stored.
	stream, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(ctx, first); err != nil {
		t.Fatal(err)
	}
	ack, err := pjs.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID(id))
	if err != nil {
		t.Fatalf("the refused command once there is room: %v", err)
	}
	if ack.Duplicate {
		t.Fatal("the refused command's id was used up: dropped as a duplicate")
	}
}

// TestFullCommandStreamRefusesNewCommands: at CommandMaxBytes the stream
// refuses a new command (whoever publishes it) with a clear error, keeps
// every stored one, and the refused id is stored once there is room.
func TestFullCommandStreamRefusesNewCommands(t *testing.T) {
	srv, js := setupWith(t, natsbus.StreamLimits{CommandMaxBytes: 256 << 10})
	ctx := context.Background()
	pjs, err := jetstream.New(srv.Connect(t, natstest.SeedPartnerUser))
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte(" "), command.MaxSize)
	var stored []uint64
	var refused string
	for i := 0; i < 10 && refused == ""; i++ {
		id := uuid.NewString()
		ack, err := pjs.Publish(ctx, command.CommandSubject(partnerA, uuid.NewString()), body, jetstream.WithMsgID(id))
		if err != nil {
			if !strings.Contains(err.Error(), "maximum bytes exceeded") {
				t.Fatalf("publish %d: %v; want the stream to say it is full", i+1, err)
			}
			refused = id
			continue
		}
		stored = append(stored, ack.Sequence)
	}
	if refused == "" {
		t.Fatalf("%d commands of %d bytes fit in a stream of 256 KiB", len(stored), len(body))
	}
	stream, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(stored)) {
		t.Fatalf("the stream holds %d commands, %d were acknowledged: a full stream dropped some", info.State.Msgs, len(stored))
	}
	gw, err := natsbus.NewCommandPublisher(srv.Connect(t, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	c := &command.Command{Version: command.WireVersion, ID: uuid.NewString(), Type: command.Register, CustomerID: uuid.NewString(), PartnerID: partnerA,
		Payload: []byte(`{"label":"` + strings.Repeat("x", command.MaxSize-200) + `"}`)}
	if err := gw.PublishCommand(ctx, c); !errors.Is(err, natsbus.ErrCommandStreamFull) {
		t.Fatalf("the gateway's command into a full stream: %v, want %v", err, natsbus.ErrCommandStreamFull)
	}
	if err := stream.DeleteMsg(ctx, stored[0]); err != nil {
		t.Fatal(err)
	}
	ack, err := pjs.Publish(ctx, command.CommandSubject(partnerA, uuid.NewString()), body, jetstream.WithMsgID(refused))
	if err != nil || ack.Duplicate {
		t.Fatalf("the refused command once there is room: %+v, %v; want it stored", ack, err)
	}
}
