package stacktest_test

// What issue 9's chaos runs require, against the whole system: with NATS
// down, every mutation is answered within the mutation timeout plus a
// second, each with its command id, and a command answered with an error
// is never applied afterwards, however its message turns up once NATS is
// back; the stack then works again.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/stacktest"
)

// registerThroughGateway registers a customer through the gateway and
// returns its id.
func registerThroughGateway(t *testing.T, s *stacktest.Stack, space string) string {
	t.Helper()
	r := s.Do(s.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response customerId } }`,
		map[string]any{"in": map[string]any{"space": space, "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Co " + space}})
	var got struct {
		RegisterCustomer struct {
			Response   bool
			CustomerID string
		}
	}
	if err := json.Unmarshal(r.Data["registerCustomer"], &got.RegisterCustomer); err != nil || !got.RegisterCustomer.Response {
		t.Fatalf("register: %s", r.Raw)
	}
	return got.RegisterCustomer.CustomerID
}

func TestANATSOutageIsAnsweredInTimeAndNothingAnsweredFailedIsAppliedLater(t *testing.T) {
	const timeout = 2 * time.Second
	s := stacktest.Start(t, stacktest.Options{MutationTimeout: timeout})
	id := registerThroughGateway(t, s, "outage-co")

	s.NATS.Shutdown()
	// Two mutations in one request: the second is sent too, and each is
	// answered within the mutation timeout and a second. The gateway's
	// connection (natstest's) buffers publishes while disconnected, as
	// nats.go does by default: the very messages may reach JetStream
	// once NATS is back.
	start := time.Now()
	r := s.Do(s.PartnerKey, `mutation { a: activateCustomer(input: {id: "`+id+`"}) b: activateCustomer(input: {id: "`+id+`"}) }`, nil)
	if took := time.Since(start); took > 2*(timeout+time.Second) {
		t.Fatalf("two mutations answered after %s, want within 2 × (%s + 1s)", took, timeout)
	}
	if len(r.Errors) != 2 {
		t.Fatalf("got %s, want two errors", r.Raw)
	}
	var ids []string
	for _, e := range r.Errors {
		cid, _ := e.Extensions["commandId"].(string)
		if e.Extensions["code"] != "UNAVAILABLE" || cid == "" {
			t.Fatalf("got %s, want UNAVAILABLE with the command id for each mutation", r.Raw)
		}
		ids = append(ids, cid)
	}

	s.NATS.Restart(t)
	// Whatever was buffered goes out on reconnect; publish each command
	// again as well, as a JetStream acknowledgement lost in a crash would
	// leave it stored (a duplicate if the buffered one got there first).
	// Then every one of them is in the work queue or was processed: wait
	// until the provisioner has processed them all.
	js, err := jetstream.New(s.NATS.Connect(t, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cid := range ids {
		cmd := &command.Command{Version: command.WireVersion, ID: cid, Type: command.Activate, CustomerID: id, PartnerID: stacktest.PartnerID,
			Actor: "partner:" + stacktest.PartnerID, IssuedAt: time.Now().UTC()}
		b, err := command.Encode(cmd)
		if err != nil {
			t.Fatal(err)
		}
		publishWhenReady(t, js, command.GatewaySubject(stacktest.PartnerID, id), b, cid)
	}
	waitCommandStreamEmpty(t, s)
	for _, cid := range ids {
		out, err := s.Store.Outcome(context.Background(), stacktest.PartnerID, id, cid)
		if err != nil || out == nil || out.Status != command.Rejected || out.Errors[0].Code != "UNAVAILABLE" {
			t.Fatalf("the late command %s: %+v (%v), want its settled rejection", cid, out, err)
		}
	}
	c, err := s.Store.Get(context.Background(), id)
	if err != nil || c.Version() != 1 || c.Status() != "REGISTERED" {
		t.Fatalf("after the outage: %+v (%v), want the customer untouched at version 1", c, err)
	}

	// And the stack works again.
	r = s.Do(s.PartnerKey, `mutation { activateCustomer(input: {id: "`+id+`"}) }`, nil)
	if string(r.Data["activateCustomer"]) != "true" {
		t.Fatalf("activation after the outage: %s", r.Raw)
	}
}

// publishWhenReady publishes to JetStream, trying again while the
// restarted server is still recovering its streams.
func publishWhenReady(t *testing.T, js jetstream.JetStream, subject string, body []byte, msgID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, subject, body, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s after the restart: %v", msgID, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitCommandStreamEmpty waits until the provisioner has processed every
// command in the stream (a work queue: processed ones are removed).
func waitCommandStreamEmpty(t *testing.T, s *stacktest.Stack) {
	t.Helper()
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		stream, err := js.Stream(context.Background(), natsbus.CommandStream)
		if err == nil {
			info, ierr := stream.Info(context.Background())
			if err = ierr; err == nil && info.State.Msgs == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command stream is not drained 30s after the restart (%v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
