package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/ops"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
)

// opsEnv is the environment textkit's operations commands get against s.
func opsEnv(t *testing.T, s *stacktest.Stack) map[string]string {
	return map[string]string{
		"TEXTKIT_REDIS_ADDR": s.Redis.Addr, "TEXTKIT_REDIS_PASSWORD": s.Redis.Password,
		"TEXTKIT_NATS_URL":                  s.NATS.URL(),
		"TEXTKIT_NATS_PROVISIONER_PASSWORD": natstest.Passwords["provisioner"],
		"TEXTKIT_NATS_PARTNER_PASSWORD":     natstest.Passwords[natstest.SeedPartnerUser],
		"TEXTKIT_DATA_DIR":                  t.TempDir(),
	}
}

// textkitJSON runs textkit with -json and decodes its output into v.
func textkitJSON(t *testing.T, env map[string]string, v any, args ...string) {
	t.Helper()
	out, err := runTextkit(t, env, append(args, "-json")...)
	if err != nil {
		t.Fatalf("textkit %v: %v\n%s", args, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("textkit %v -json: %v\n%s", args, err, out)
	}
}

// wantExit runs textkit and checks its exit code and error text.
func wantExit(t *testing.T, env map[string]string, code int, want string, args ...string) {
	t.Helper()
	out, err := runTextkit(t, env, args...)
	if got := exitCode(err); got != code || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("textkit %v: exit %d, error %v (output %q); want exit %d and an error containing %q", args, got, err, out, code, want)
	}
}

// directPublisher publishes commands as the seed partner's direct publisher.
func directPublisher(t *testing.T, s *stacktest.Stack) jetstream.JetStream {
	t.Helper()
	nc := s.NATS.Connect(t, natstest.SeedPartnerUser, nats.CustomInboxPrefix("_INBOX_"+natstest.SeedPartnerUser))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func publishCommand(t *testing.T, js jetstream.JetStream, customerID string, cmd map[string]any) *jetstream.PubAck {
	t.Helper()
	cmd["version"], cmd["partnerId"], cmd["customerId"] = command.WireVersion, stacktest.PartnerID, customerID
	cmd["issuedAt"] = time.Now().UTC().Format(time.RFC3339Nano)
	body, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(context.Background(), command.CommandSubject(stacktest.PartnerID, customerID), body, jetstream.WithMsgID(cmd["id"].(string)))
	if err != nil {
		t.Fatalf("publish %v: %v", cmd["type"], err)
	}
	return ack
}

// An operator follows a registration (customer show by space and by id,
// command show), finds a bad command in the dead letters without ever
// seeing its body, cannot replay it once erased, and purges it.
func TestOperationsCommandsOnTheStack(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{NoProvisioner: true})
	stop := s.StartProvisioner(t)
	env := opsEnv(t, s)
	js := directPublisher(t, s)

	id, space := uuid.NewString(), "ops-"+uuid.NewString()[:8]
	reg := map[string]any{"id": uuid.NewString(), "type": "customer.register",
		"payload": map[string]any{"space": space, "industryId": stacktest.IndustryID, "label": "Ops Co."}}
	publishCommand(t, js, id, reg)
	var cv ops.CommandView
	testenv.Eventually(t, 20*time.Second, func() error {
		out, err := runTextkit(t, env, "command", "show", reg["id"].(string), "-json")
		if err != nil {
			return fmt.Errorf("command show: %w (%s)", err, out)
		}
		return json.Unmarshal([]byte(out), &cv)
	})
	if cv.Status != string(command.Applied) || cv.Outcome == nil || cv.Outcome.CustomerID != id {
		t.Fatalf("command show of the registration: %+v", cv)
	}
	var c ops.CustomerView
	textkitJSON(t, env, &c, "customer", "show", space)
	if c.ID != id || c.Space != space || c.Status != customer.StatusRegistered || len(c.History) != 1 || c.History[0].CommandID != reg["id"] {
		t.Fatalf("customer show %s: %+v", space, c)
	}
	if out, err := runTextkit(t, env, "customer", "show", id); err != nil || !strings.Contains(out, space) || !strings.Contains(out, reg["id"].(string)) {
		t.Fatalf("customer show %s (text): %v\n%s", id, err, out)
	}
	wantExit(t, env, exitNotFound, "no customer with id or space", "customer", "show", "no-such-space")
	wantExit(t, env, exitNotFound, "no command", "command", "show", uuid.NewString())

	// A command with an unknown field, carrying contact info in plaintext.
	const plaintext = "ops-canary@example.com"
	bad := map[string]any{"id": uuid.NewString(), "type": "customer.updateContactInfo", "bogus": plaintext}
	publishCommand(t, js, id, bad)
	var letters []ops.Letter
	testenv.Eventually(t, 20*time.Second, func() error {
		textkitJSON(t, env, &letters, "dlq", "list")
		switch {
		case len(letters) != 1:
			return fmt.Errorf("%d dead letters, want 1", len(letters))
		case letters[0].Original: // the provisioner erases it right after writing the dead letter
			return fmt.Errorf("the dead-lettered command is still in the command stream")
		}
		return nil
	})
	l := letters[0]
	if l.DeadLetter.CommandID != bad["id"] || l.DeadLetter.CustomerID != id {
		t.Fatalf("dead letter: %+v", l)
	}
	seq := strconv.FormatUint(l.Seq, 10)
	for _, args := range [][]string{{"dlq", "list"}, {"dlq", "show", seq}, {"dlq", "show", seq, "-json"}} {
		out, err := runTextkit(t, env, args...)
		if err != nil || !strings.Contains(out, bad["id"].(string)) || strings.Contains(out, plaintext) {
			t.Errorf("textkit %v: %v (must name the command, never print its body)\n%s", args, err, out)
		}
	}
	wantExit(t, env, exitNotFound, "was erased", "dlq", "replay", seq)
	// The provisioner in this process counted it for the dashboard.
	for _, name := range []string{"textkit_provisioner_dead_letters_total", "textkit_provisioner_rejections_total", "textkit_commands_oldest_pending_age_seconds", "textkit_commands_pending"} {
		if n := seriesCount(t, name); n == 0 {
			t.Errorf("metric %s has no series after a dead letter", name)
		}
	}

	// The provisioner stops between writing a dead letter and erasing the
	// command: the original is still there, and can be replayed.
	stop()
	act := map[string]any{"id": uuid.NewString(), "type": "customer.activate"}
	ack := publishCommand(t, js, id, act)
	orig, err := commandStream(t, s).GetMsg(context.Background(), ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := natsbus.NewPublisher(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	dl := &command.DeadLetter{Version: command.WireVersion, CommandID: act["id"].(string), PartnerID: stacktest.PartnerID, CustomerID: id,
		Subject: orig.Subject, StreamSequence: ack.Sequence, Reason: "UNAVAILABLE: industry missing", Size: len(orig.Data), DeadLetteredAt: time.Now().UTC(),
		Errors: []*customer.Error{customer.Errorf(customer.CodeUnavailable, "industry missing")}}
	if err := pub.DeadLetter(context.Background(), dl); err != nil {
		t.Fatal(err)
	}
	textkitJSON(t, env, &letters, "dlq", "list")
	if len(letters) != 2 || !letters[1].Original {
		t.Fatalf("dead letters after the second: %+v", letters)
	}
	seq2 := strconv.FormatUint(letters[1].Seq, 10)
	var r ops.Replayed
	textkitJSON(t, env, &r, "dlq", "replay", seq2)
	if r.OldCommandID != act["id"] || r.NewCommandID == act["id"] || r.Subject != orig.Subject {
		t.Fatalf("replay: %+v", r)
	}
	var purged []ops.Purged
	textkitJSON(t, env, &purged, "dlq", "purge", seq2)
	if len(purged) != 1 || !purged[0].Original {
		t.Fatalf("purge %s: %+v", seq2, purged)
	}
	if _, err := commandStream(t, s).GetMsg(context.Background(), ack.Sequence); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("the purged dead letter's original is still in the command stream: %v", err)
	}
	wantExit(t, env, exitNotFound, "no message", "dlq", "show", seq2)

	// The replayed command, under its new id, is applied; the original never is.
	s.StartProvisioner(t)
	testenv.Eventually(t, 20*time.Second, func() error {
		out, err := runTextkit(t, env, "command", "show", r.NewCommandID, "-json")
		if err != nil {
			return fmt.Errorf("command show: %w (%s)", err, out)
		}
		return json.Unmarshal([]byte(out), &cv)
	})
	if cv.Status != string(command.Applied) || cv.Outcome.Type != command.Activate {
		t.Fatalf("the replayed activation: %+v", cv.Outcome)
	}
	wantExit(t, env, exitNotFound, "no command", "command", "show", act["id"].(string))

	textkitJSON(t, env, &purged, "dlq", "purge", "-all")
	if len(purged) != 1 || purged[0].Seq != l.Seq {
		t.Fatalf("purge -all: %+v", purged)
	}
	textkitJSON(t, env, &letters, "dlq", "list")
	if len(letters) != 0 {
		t.Fatalf("dead letters after purge -all: %+v", letters)
	}
}

// keys due lists the destruction schedule soonest first, marks what is
// overdue, and -within narrows it.
func TestKeysDue(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{NoProvisioner: true})
	env := opsEnv(t, s)
	ctx := context.Background()
	late, soon, later := uuid.NewString(), uuid.NewString(), uuid.NewString()
	now := time.Now()
	for id, at := range map[string]time.Time{late: now.Add(-time.Hour), soon: now.Add(time.Minute), later: now.Add(48 * time.Hour)} {
		if err := s.Store.ScheduleKeyDestruction(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	var due []ops.DueKey
	textkitJSON(t, env, &due, "keys", "due")
	if len(due) != 3 || due[0].CustomerID != late || !due[0].Overdue || due[1].CustomerID != soon || due[1].Overdue || due[2].CustomerID != later {
		t.Fatalf("keys due: %+v", due)
	}
	textkitJSON(t, env, &due, "keys", "due", "-within", "1h")
	if len(due) != 2 {
		t.Fatalf("keys due -within 1h: %+v", due)
	}
	if out, err := runTextkit(t, env, "keys", "due", "-limit", "1"); err != nil || !strings.Contains(out, late) || !strings.Contains(out, "OVERDUE") || strings.Contains(out, soon) {
		t.Fatalf("keys due -limit 1: %v\n%s", err, out)
	}
}

func TestOperationsUsageErrors(t *testing.T) {
	env := map[string]string{"TEXTKIT_REDIS_ADDR": "127.0.0.1:1", "TEXTKIT_NATS_URL": "nats://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no subcommand"},
		{[]string{"dlq"}, "want list, show, replay, purge"},
		{[]string{"dlq", "show"}, "want exactly one seq"},
		{[]string{"dlq", "show", "abc"}, "is not a dead letter's sequence"},
		{[]string{"dlq", "purge"}, "or -all, not both"},
		{[]string{"dlq", "list", "-limit", "0"}, "-limit must be at least 1"},
		{[]string{"command"}, "want show"},
		{[]string{"command", "show"}, "want exactly one id"},
		{[]string{"customer", "show", "a", "b"}, "want exactly one id|space"},
		{[]string{"keys", "due", "x"}, "takes no arguments"},
		{[]string{"keys", "due", "-within", "soon"}, "invalid value"},
	} {
		wantExit(t, env, exitUsage, tc.want, tc.args...)
	}
	wantExit(t, env, exitError, "connect to NATS", "dlq", "list")
}

// commandStream is the command stream, read as the provisioner.
func commandStream(t *testing.T, s *stacktest.Stack) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seriesCount is how many series of the metric name this process exports.
func seriesCount(t *testing.T, name string) int {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

// TestNATSPasswordVar: each dev seed partner's direct publisher has its
// own secret, as each service has.
func TestNATSPasswordVar(t *testing.T) {
	for user, want := range map[string]string{
		natstest.SeedPartnerUser:   "TEXTKIT_NATS_PARTNER_PASSWORD",
		natstest.SecondPartnerUser: "TEXTKIT_NATS_PARTNER2_PASSWORD",
		"gateway":                  "TEXTKIT_NATS_GATEWAY_PASSWORD",
		"provisioner":              "TEXTKIT_NATS_PROVISIONER_PASSWORD",
	} {
		if got := natsPasswordVar(user); got != want {
			t.Errorf("natsPasswordVar(%q) = %q, want %q", user, got, want)
		}
	}
}
