package natsbus_test

// Only the 16 partitions exist: the command stream stores, the consumers
// read and nats.conf lets users publish exactly the partition subjects
// customers.cmdp.<0..15>.<partnerId>.<customerId>[.gw]. A publish to any
// other subject is refused at once, so nothing sits in the stream unread
// and the refused message's Nats-Msg-Id can be used again.

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
)

// allPartitions is "0".."15", as the server's partition() mapping writes them.
func allPartitions() []string {
	var out []string
	for p := 0; p < natsbus.Partitions; p++ {
		out = append(out, strconv.Itoa(p))
	}
	return out
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		if errA != nil || errB != nil {
			return strings.Compare(a, b)
		}
		return x - y
	})
	return out
}

func commandStreamConfig(t *testing.T, l natsbus.StreamLimits) jetstream.StreamConfig {
	t.Helper()
	for _, cfg := range natsbus.StreamConfigs(l) {
		if cfg.Name == natsbus.CommandStream {
			return cfg
		}
	}
	t.Fatal("no command stream config")
	return jetstream.StreamConfig{}
}

// TestPartitionsAgreeEverywhere: the server's mappings, the command
// stream's subjects, the consumers' filters and the users' publish
// permissions in nats.conf all name the same partitions, 0 to 15.
func TestPartitionsAgreeEverywhere(t *testing.T) {
	conf, err := os.ReadFile(natstest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	// The mappings (the gateway's, the direct one, and each partner
	// account's) split into natsbus.Partitions.
	maps := regexp.MustCompile(`partition\((\d+),2\)`).FindAllSubmatch(conf, -1)
	if len(maps) < 4 {
		t.Fatalf("nats.conf has %d partition(N,2) mappings, want the gateway's, the direct one and each of the two partners'", len(maps))
	}
	for _, m := range maps {
		if got, _ := strconv.Atoi(string(m[1])); got != natsbus.Partitions {
			t.Fatalf("nats.conf maps commands onto %d partitions, natsbus.Partitions is %d", got, natsbus.Partitions)
		}
	}

	// The stream: both forms of every partition, nothing else.
	stream := commandStreamConfig(t, natsbus.StreamLimits{})
	streamParts := map[string]map[string]bool{"direct": {}, "gw": {}}
	for _, s := range stream.Subjects {
		tok := strings.Split(s, ".")
		switch {
		case len(tok) == 5 && s == command.PartitionPrefix+"."+tok[2]+".*.*":
			streamParts["direct"][tok[2]] = true
		case len(tok) == 6 && s == command.PartitionPrefix+"."+tok[2]+".*.*.gw":
			streamParts["gw"][tok[2]] = true
		default:
			t.Errorf("command stream subject %q is not a partition subject", s)
		}
		if strings.ContainsAny(s, ">") {
			t.Errorf("command stream subject %q stores subjects of any length", s)
		}
	}
	for form, parts := range streamParts {
		if got := sortedSet(parts); !slices.Equal(got, allPartitions()) {
			t.Errorf("command stream stores the %s form for partitions %v, want %v", form, got, allPartitions())
		}
	}

	// The consumers: every stored subject is read by exactly one consumer,
	// the one of its partition, and each consumer reads one partition.
	for _, s := range stream.Subjects {
		var readers []int
		for p := 0; p < natsbus.Partitions; p++ {
			if server.SubjectsCollide(s, natsbus.PartitionConsumer(p, time.Minute).FilterSubject) {
				readers = append(readers, p)
			}
		}
		if want := strings.Split(s, ".")[2]; len(readers) != 1 || strconv.Itoa(readers[0]) != want {
			t.Errorf("stream subject %s is read by the consumers of partitions %v, want [%s]", s, readers, want)
		}
	}

	// The users: whoever may publish partition subjects may publish them
	// for exactly the same partitions, and a partner only for itself.
	opts, err := server.ProcessConfigFile(natstest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, u := range opts.Users {
		if u.Permissions == nil || u.Permissions.Publish == nil {
			continue
		}
		forms := map[string]map[string]bool{}
		for _, a := range u.Permissions.Publish.Allow {
			if !strings.HasPrefix(a, command.PartitionPrefix+".") {
				continue
			}
			tok := strings.Split(a, ".")
			form := "direct"
			if len(tok) == 6 && tok[5] == "gw" {
				form = "gw"
			} else if len(tok) != 5 {
				t.Errorf("user %s may publish %q: not a partition subject", u.Username, a)
				continue
			}
			if forms[form] == nil {
				forms[form] = map[string]bool{}
			}
			forms[form][tok[2]] = true
			if strings.HasPrefix(u.Username, "partner-") {
				// partner-<first 8 hex digits of its id>: its own id only
				own := strings.TrimPrefix(u.Username, "partner-")
				if form != "direct" || len(tok[3]) != 36 || !strings.HasPrefix(tok[3], own) || tok[4] != "*" {
					t.Errorf("partner user %s may publish %q: only its own partner's direct commands", u.Username, a)
				}
			}
		}
		for form, parts := range forms {
			seen[u.Username] = true
			if got := sortedSet(parts); !slices.Equal(got, allPartitions()) {
				t.Errorf("user %s may publish the %s form for partitions %v, want %v", u.Username, form, got, allPartitions())
			}
		}
	}
	for _, u := range []string{"gateway", natstest.SeedPartnerUser, natstest.SecondPartnerUser} {
		if !seen[u] {
			t.Errorf("nats.conf lets user %s publish no partition subject", u)
		}
	}
}

// TestCommandStreamStoresOnlyPartitionSubjects checks the stream on its
// own, on a server without permissions: any subject under customers.cmdp
// that is not a partition subject finds no stream, the publish fails at
// once, and its Nats-Msg-Id is still free for the right subject.
func TestCommandStreamStoresOnlyPartitionSubjects(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	customer := uuid.NewString()
	right := command.PartitionSubject(natsbus.PartitionOf(customer), partnerA, customer)
	id := uuid.NewString()
	for _, subj := range []string{
		command.PartitionPrefix + ".16." + partnerA + "." + customer,
		command.PartitionPrefix + ".99." + partnerA + "." + customer,
		command.PartitionPrefix + ".01." + partnerA + "." + customer,
		command.PartitionPrefix + ".-1." + partnerA + "." + customer,
		command.PartitionPrefix + ".x." + partnerA + "." + customer,
		command.PartitionPrefix + ".3." + partnerA,
		command.PartitionPrefix + ".3",
		right + ".extra",
		right + ".gw.extra",
		right + ".GW",
		command.PartitionPrefix + ".16." + partnerA + "." + customer + ".gw",
	} {
		ack, err := js.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID(id))
		if !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Errorf("publish to %s: got %+v, %v; want no stream to store it", subj, ack, err)
		}
	}
	for _, subj := range []string{right, right + ".gw"} {
		ack, err := js.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID(id))
		if err != nil {
			t.Fatalf("publish to %s: %v", subj, err)
		}
		if ack.Stream != natsbus.CommandStream || (subj == right && ack.Duplicate) || (subj != right && !ack.Duplicate) {
			t.Fatalf("publish to %s: %+v; want the first stored and the second a duplicate", subj, ack)
		}
	}
}

// TestMisroutedCommandsAreRefused: with the shipped nats.conf, a partner
// publishing to a partition subject that no consumer reads, or of another
// shape, is refused (permissions violation, no PubAck), and the command
// id can then be published on the right subject: it is stored, not
// dropped as a duplicate.
func TestMisroutedCommandsAreRefused(t *testing.T) {
	srv, js := setup(t)
	ctx := context.Background()
	errs := make(chan error, 32)
	nc := srv.Connect(t, natstest.SeedPartnerUser, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	pjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	customer := uuid.NewString()
	part := natsbus.PartitionOf(customer)
	right := command.PartitionSubject(part, partnerA, customer)
	id := uuid.NewString()
	for _, subj := range []string{
		command.PartitionPrefix + ".99." + partnerA + "." + customer,
		command.PartitionPrefix + ".16." + partnerA + "." + customer,
		command.PartitionPrefix + ".0" + strconv.Itoa(part) + "." + partnerA + "." + customer,
		command.PartitionPrefix + "." + strconv.Itoa(part) + "." + partnerA,
		command.PartitionPrefix + ".3.x",
		right + ".extra",
		right + ".gw", // the gateway's form
		command.CommandSubject(partnerA, customer) + ".extra",
		command.CommandSubject(partnerA, customer)[:len(command.CommandSubject(partnerA, customer))-len(customer)-1],
	} {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := pjs.Publish(pctx, subj, []byte(`{}`), jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			t.Errorf("publish to %s was stored: %+v", subj, ack)
			continue
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("publish to %s: got %v, want a permissions violation", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("publish to %s failed (%v) without a permissions violation", subj, err)
		}
	}
	stream, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("the command stream holds %d refused messages", info.State.Msgs)
	}
	// The same id, published as the docs say: stored, not a duplicate, on
	// the partition its consumer reads.
	ack, err := pjs.Publish(ctx, command.CommandSubject(partnerA, customer), []byte(`{}`), jetstream.WithMsgID(id))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Duplicate {
		t.Fatal("a refused publish used up the command id: the right subject got a duplicate")
	}
	msg, err := stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != right {
		t.Fatalf("stored on %s, want %s", msg.Subject, right)
	}
	// A valid partition that is not the customer's is still read (by that
	// partition's consumer, and rejected by the provisioner).
	wrong := command.PartitionSubject((part+1)%natsbus.Partitions, partnerA, customer)
	if _, err := pjs.Publish(ctx, wrong, []byte(`{}`), jetstream.WithMsgID(uuid.NewString())); err != nil {
		t.Fatalf("publish to another valid partition %s: %v", wrong, err)
	}
}

// TestPartnerMaxPayloadIsTheCommandStreams: the partner's account refuses
// a message larger than the command stream would store, before it is
// sent, and the limit in nats.conf is the stream's MaxMsgSize.
func TestPartnerMaxPayloadIsTheCommandStreams(t *testing.T) {
	conf, err := os.ReadFile(natstest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	// Every partner's account (the seed's two) has the same limit.
	ms := regexp.MustCompile(`(?s)(PARTNER_[0-9a-f]{8}) \{.*?max_payload: (\d+)KB`).FindAllSubmatch(conf, -1)
	if len(ms) < 2 {
		t.Fatalf("nats.conf sets max_payload (in KB) for %d partner accounts, want the seed's two", len(ms))
	}
	max := commandStreamConfig(t, natsbus.StreamLimits{}).MaxMsgSize
	for _, m := range ms {
		if kb, _ := strconv.Atoi(string(m[2])); int32(kb*1024) != max {
			t.Fatalf("%s's max_payload is %d bytes, the command stream's MaxMsgSize %d", m[1], kb*1024, max)
		}
	}

	srv, _ := setup(t)
	nc := srv.Connect(t, natstest.SeedPartnerUser)
	// The server announces the account's limit in an INFO right after the
	// connection is authenticated; a round trip makes sure it arrived (a
	// client that publishes more before that is disconnected instead).
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := nc.MaxPayload(); got != int64(max) {
		t.Fatalf("the partner's connection has max payload %d, want %d", got, max)
	}
	pjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	customer := uuid.NewString()
	id := uuid.NewString()
	big := make([]byte, max+1)
	if _, err := pjs.Publish(ctx, command.CommandSubject(partnerA, customer), big, jetstream.WithMsgID(id)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("publishing %d bytes as the partner: %v, want %v", len(big), err, nats.ErrMaxPayload)
	}
	ack, err := pjs.Publish(ctx, command.CommandSubject(partnerA, customer), []byte(`{}`), jetstream.WithMsgID(id))
	if err != nil || ack.Duplicate {
		t.Fatalf("the same id after a refused payload: %+v, %v", ack, err)
	}
}
