package invariant_test

// Each invariant is broken for real, in a whole running stack (stacktest),
// and the checker must report it with the customer's id; a clean run of
// the same mutations must report nothing.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/invariant"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twilio/emulator"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// run drives the stack through GraphQL and keeps the ledger of it.
type run struct {
	t     *testing.T
	s     *stacktest.Stack
	src   *invariant.Live
	keys  *vault.Client
	seq   int64
	recs  []ledger.Record
	space int
}

func (r *run) add(rec ledger.Record) ledger.Record {
	r.seq++
	now := time.Now().UTC()
	rec.Kind, rec.Seq, rec.Via, rec.PartnerID, rec.Ordered = ledger.KindCommand, r.seq, ledger.ViaGraphQL, stacktest.PartnerID, true
	rec.IntendedAt, rec.SentAt, rec.AnsweredAt = now, now, now
	r.recs = append(r.recs, rec)
	return rec
}

type payload struct {
	Response        bool
	CustomerID      string
	CommandID       string
	CustomerVersion *int64 `json:"version"`
}

func (r *run) register() string {
	r.t.Helper()
	r.space++
	resp := r.s.Do(r.s.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response customerId commandId version } }`,
		map[string]any{"in": map[string]any{"space": fmt.Sprintf("inv-%d-%d", time.Now().UnixNano()%1e6, r.space),
			"partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Invariant Co"}})
	var got struct{ RegisterCustomer payload }
	decode(r.t, resp, &got)
	if !got.RegisterCustomer.Response {
		r.t.Fatalf("register: %s", resp.Raw)
	}
	p := got.RegisterCustomer
	r.add(ledger.Record{CustomerID: p.CustomerID, Type: ledger.Register, CommandID: p.CommandID, Field: "registerCustomer",
		Answer: ledger.Applied, CustomerVersion: p.CustomerVersion})
	r.waitKey(p.CustomerID, true)
	return p.CustomerID
}

// simple runs a Boolean mutation; the client learns no command id.
func (r *run) simple(field string, typ ledger.Type, id string) {
	r.t.Helper()
	resp := r.s.Do(r.s.PartnerKey, `mutation($id: ID!) { `+field+`(input: {id: $id}) }`, map[string]any{"id": id})
	if len(resp.Errors) > 0 {
		r.t.Fatalf("%s: %s", field, resp.Raw)
	}
	r.add(ledger.Record{CustomerID: id, Type: typ, Field: field, Answer: ledger.Applied})
}

func (r *run) terminate(id string, retention map[string]any) {
	r.t.Helper()
	resp := r.s.Do(r.s.PartnerKey, `mutation($in: TerminateCustomerInput!) { terminateCustomer(input: $in) { response commandId } }`,
		map[string]any{"in": map[string]any{"id": id, "retention": retention}})
	var got struct{ TerminateCustomer payload }
	decode(r.t, resp, &got)
	if !got.TerminateCustomer.Response {
		r.t.Fatalf("terminate: %s", resp.Raw)
	}
	r.add(ledger.Record{CustomerID: id, Type: ledger.Terminate, CommandID: got.TerminateCustomer.CommandID,
		Field: "terminateCustomer", Answer: ledger.Applied, Retention: fmt.Sprint(retention["strategy"])})
}

func (r *run) waitKey(id string, exists bool) {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := r.keys.KeyStatus(context.Background(), id)
		if err == nil && ok == exists {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("key of %s: exists %v, want %v (err %v)", id, ok, exists, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check runs the checker on the ledger's records of the given customers.
func (r *run) check(ids ...string) *invariant.Report {
	r.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var recs []ledger.Record
	for _, rec := range r.recs {
		if want[rec.CustomerID] {
			recs = append(recs, rec)
		}
	}
	h := ledger.Header{Kind: ledger.KindHeader, Version: ledger.Version, StartedAt: time.Now(), Target: ledger.ViaGraphQL, Mix: "test", PartnerID: stacktest.PartnerID}
	rep, err := invariant.Check(context.Background(), r.src, h, recs, invariant.Options{KeyGrace: 5 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	return rep
}

func (r *run) lifecycle() string {
	id := r.register()
	r.simple("activateCustomer", ledger.Activate, id)
	r.simple("deactivateCustomer", ledger.Deactivate, id)
	r.simple("activateCustomer", ledger.Activate, id)
	return id
}

func decode(t *testing.T, r *stacktest.Response, v any) {
	t.Helper()
	b, _ := json.Marshal(r.Data)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", r.Raw, err)
	}
}

// expect fails unless the report has a violation of kind for id.
func expect(t *testing.T, rep *invariant.Report, kind invariant.Kind, id string) {
	t.Helper()
	if !rep.Has(kind, id) {
		t.Fatalf("no %s violation for %s; report:\n%s", kind, id, rep.Summary())
	}
	t.Logf("detected:\n%s", rep.Summary())
}

func (r *run) rdbHistory(id string) string { return "cust:{" + id + "}:history" }

func TestCheck(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{Retention: true, NoProvisioner: true})
	stopProvisioner := s.StartProvisioner(t)
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	keys := s.Vault.Client(t, s.Tokens.Retention)
	r := &run{t: t, s: s, keys: keys, src: &invariant.Live{Store: s.Store, Keys: keys, JetStream: js,
		Twilio: invariant.Emulator{URL: s.Twilio.URL, AccountSID: s.Twilio.AccountSID(), AuthToken: s.Twilio.AuthToken()}}}
	ctx := context.Background()

	t.Run("clean run reports nothing", func(t *testing.T) {
		r.t = t
		a := r.lifecycle()
		r.terminate(a, map[string]any{"strategy": "NO_RETENTION", "period": 12})
		r.waitKey(a, false)
		b := r.lifecycle()
		r.terminate(b, map[string]any{"strategy": "TEMPORARY", "period": 1})
		c := r.register()
		rep := r.check(a, b, c)
		if len(rep.Violations) != 0 {
			t.Fatalf("clean run:\n%s", rep.Summary())
		}
		if rep.Counts.Sent != 11 || rep.Counts.Acknowledged != 11 || rep.Counts.Applied != 11 || rep.Counts.Customers != 3 {
			t.Fatalf("counts: %+v", rep.Counts)
		}
	})
	t.Run("acknowledged command lost", func(t *testing.T) {
		r.t = t
		id := r.register()
		r.add(ledger.Record{CustomerID: id, Type: ledger.Activate, CommandID: uuid.NewString(), Answer: ledger.Applied})
		expect(t, r.check(id), invariant.Lost, id)
	})
	t.Run("acknowledged command lost, no command id", func(t *testing.T) {
		r.t = t
		id := r.register()
		r.add(ledger.Record{CustomerID: id, Type: ledger.Activate, Field: "activateCustomer", Answer: ledger.Applied})
		expect(t, r.check(id), invariant.Lost, id)
	})
	t.Run("acknowledged command lost among concurrent ones", func(t *testing.T) {
		r.t = t
		id := r.lifecycle()
		// Sent concurrently (ordered=false): only counts per event type
		// apply, and the history has two activations, not three.
		for i := range r.recs {
			if r.recs[i].CustomerID == id {
				r.recs[i].Ordered = false
			}
		}
		r.add(ledger.Record{CustomerID: id, Type: ledger.Activate, Field: "activateCustomer", Answer: ledger.Applied})
		r.recs[len(r.recs)-1].Ordered = false
		rep := r.check(id)
		expect(t, rep, invariant.Lost, id)
		if len(rep.Violations) != 1 {
			t.Fatalf("want exactly the lost activation:\n%s", rep.Summary())
		}
	})
	t.Run("one unexplained entry is one violation", func(t *testing.T) {
		r.t = t
		id := r.lifecycle()
		// The ledger lost track of the first activation (answered ERROR);
		// the commands after it still match the history.
		for i := range r.recs {
			if r.recs[i].CustomerID == id && r.recs[i].Type == ledger.Activate {
				r.recs[i].Answer, r.recs[i].Code = ledger.Error, "CONNECTION_REFUSED"
				break
			}
		}
		rep := r.check(id)
		expect(t, rep, invariant.ErrorApplied, id)
		if len(rep.Violations) != 1 {
			t.Fatalf("want one violation, not a cascade:\n%s", rep.Summary())
		}
	})
	t.Run("applied twice", func(t *testing.T) {
		r.t = t
		id := r.lifecycle()
		last, err := s.RDB.LIndex(ctx, r.rdbHistory(id), -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		var h redisstore.HistoryEntry
		_ = json.Unmarshal([]byte(last), &h)
		h.Version++
		b, _ := json.Marshal(h)
		s.RDB.RPush(ctx, r.rdbHistory(id), b)
		expect(t, r.check(id), invariant.AppliedTwice, id)
	})
	t.Run("version gap", func(t *testing.T) {
		r.t = t
		id := r.lifecycle()
		raw, _ := s.RDB.LIndex(ctx, r.rdbHistory(id), 1).Result()
		var h redisstore.HistoryEntry
		_ = json.Unmarshal([]byte(raw), &h)
		h.Version = 7
		b, _ := json.Marshal(h)
		s.RDB.LSet(ctx, r.rdbHistory(id), 1, b)
		expect(t, r.check(id), invariant.VersionGap, id)
	})
	t.Run("history disagrees with the ledger", func(t *testing.T) {
		r.t = t
		id := r.register()
		r.simple("activateCustomer", ledger.Activate, id)
		// The ledger says the activation made version 3; it made 2.
		three := int64(3)
		r.recs[len(r.recs)-1].CustomerVersion = &three
		expect(t, r.check(id), invariant.HistoryMismatch, id)
	})
	t.Run("published again and answered the same: one command", func(t *testing.T) {
		r.t = t
		id := r.register()
		again := r.recs[len(r.recs)-1]
		again.IdempotencyKey = ""
		r.add(again) // the same command id, answered APPLIED at the same version
		if rep := r.check(id); len(rep.Violations) != 0 || rep.Counts.Retried != 1 {
			t.Fatalf("a command published again with the same answer:\n%s", rep.Summary())
		}
	})
	t.Run("published again and answered otherwise", func(t *testing.T) {
		r.t = t
		id := r.register()
		again := r.recs[len(r.recs)-1]
		again.IdempotencyKey, again.Answer, again.Code, again.CustomerVersion = "", ledger.Rejected, "INVALID_TRANSITION", nil
		r.add(again)
		expect(t, r.check(id), invariant.HistoryMismatch, id)
	})
	t.Run("answered with an error, applied anyway", func(t *testing.T) {
		r.t = t
		id := r.register()
		reg := &r.recs[len(r.recs)-1]
		reg.Answer, reg.Code, reg.CustomerVersion = ledger.Error, "UNAVAILABLE", nil
		expect(t, r.check(id), invariant.ErrorApplied, id)
	})
	t.Run("answered rejected without a command id, applied anyway", func(t *testing.T) {
		r.t = t
		id := r.register()
		r.simple("activateCustomer", ledger.Activate, id)
		act := &r.recs[len(r.recs)-1]
		act.Answer, act.Code = ledger.Rejected, "INVALID_TRANSITION"
		expect(t, r.check(id), invariant.ErrorApplied, id)
	})
	t.Run("timed out command that command(id) says applied but is not", func(t *testing.T) {
		r.t = t
		id := r.register()
		reg := r.recs[len(r.recs)-1]
		// Remove the history entry and the state: the outcome still says APPLIED.
		s.RDB.Del(ctx, r.rdbHistory(id), "cust:{"+id+"}")
		r.recs[len(r.recs)-1].Answer, r.recs[len(r.recs)-1].CustomerVersion = ledger.Timeout, nil
		rep := r.check(id)
		expect(t, rep, invariant.HistoryMismatch, id)
		_ = reg
	})
	t.Run("two Twilio sub-accounts", func(t *testing.T) {
		r.t = t
		id := r.register()
		emulatorCall(t, s, http.MethodPost, "/2010-04-01/Accounts.json", url.Values{"FriendlyName": {twilio.SubaccountName(id)}})
		expect(t, r.check(id), invariant.TwilioSubaccounts, id)
	})
	t.Run("no Twilio sub-account", func(t *testing.T) {
		r.t = t
		id := r.register()
		c, err := s.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		emulatorCall(t, s, http.MethodPost, "/2010-04-01/Accounts/"+c.TwilioSID()+".json", url.Values{"FriendlyName": {"renamed"}})
		expect(t, r.check(id), invariant.TwilioSubaccounts, id)
	})
	t.Run("Twilio status disagrees", func(t *testing.T) {
		r.t = t
		id := r.register()
		r.simple("activateCustomer", ledger.Activate, id)
		c, err := s.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Twilio.SetStatus(c.TwilioSID(), emulator.StatusSuspended); err != nil {
			t.Fatal(err)
		}
		expect(t, r.check(id), invariant.TwilioStatus, id)
	})
	t.Run("key destroyed before its date", func(t *testing.T) {
		r.t = t
		id := r.lifecycle()
		r.terminate(id, map[string]any{"strategy": "TEMPORARY", "period": 3})
		if err := keys.DestroyKey(ctx, id); err != nil {
			t.Fatal(err)
		}
		expect(t, r.check(id), invariant.KeyDestroyedEarly, id)
	})
	t.Run("key of a live customer destroyed", func(t *testing.T) {
		r.t = t
		id := r.lifecycle()
		if err := keys.DestroyKey(ctx, id); err != nil {
			t.Fatal(err)
		}
		expect(t, r.check(id), invariant.KeyDestroyedEarly, id)
	})
	t.Run("key alive after its date", func(t *testing.T) {
		r.t = t
		id := r.lifecycle()
		r.terminate(id, map[string]any{"strategy": "NO_RETENTION"})
		r.waitKey(id, false)
		// The key comes back (a restored backup, say): it must be reported.
		if err := keys.CreateKey(ctx, id); err != nil {
			t.Fatal(err)
		}
		expect(t, r.check(id), invariant.KeyAliveLate, id)
	})
	t.Run("command(id) pending for ever", func(t *testing.T) {
		r.t = t
		id := r.register()
		cmdID := uuid.NewString()
		// A command JetStream acknowledged that nothing will process: it
		// would read PENDING until its deadline (the stream's max age).
		if err := s.Store.RecordPending(ctx, redisstore.Pending{CommandID: cmdID, Type: command.Activate, CustomerID: id, PartnerID: stacktest.PartnerID,
			At: time.Now(), Published: true, Deadline: time.Now().Add(72 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		r.add(ledger.Record{CustomerID: id, Type: ledger.Activate, Field: "activateCustomer", Answer: ledger.Timeout, Code: "TIMEOUT"})
		expect(t, r.check(id), invariant.Unprocessed, id)
	})
	t.Run("a command never published is settled on read", func(t *testing.T) {
		r.t = t
		id := r.register()
		// What a gateway killed between its pending record and its
		// publish leaves: command(id) settles it once its deadline passed.
		if err := s.Store.RecordPending(ctx, redisstore.Pending{CommandID: uuid.NewString(), Type: command.Activate, CustomerID: id, PartnerID: stacktest.PartnerID,
			At: time.Now(), Deadline: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		r.add(ledger.Record{CustomerID: id, Type: ledger.Activate, Field: "activateCustomer", Answer: ledger.Timeout, Code: "TIMEOUT"})
		rep := r.check(id)
		if len(rep.Violations) != 0 || rep.Counts.SettledOnRead != 1 {
			t.Fatalf("want no violation and one command settled on read, got %d settled:\n%s", rep.Counts.SettledOnRead, rep.Summary())
		}
	})
	t.Run("message left in the command stream", func(t *testing.T) {
		r.t = t
		id := r.register()
		stopProvisioner()
		pub, err := natsbus.NewCommandPublisher(s.NATS.Connect(t, "gateway"))
		if err != nil {
			t.Fatal(err)
		}
		cmdID := uuid.NewString()
		if err := pub.PublishCommand(ctx, &command.Command{Version: command.WireVersion, ID: cmdID, Type: command.Activate,
			CustomerID: id, PartnerID: stacktest.PartnerID, Actor: "partner:" + stacktest.PartnerID, IssuedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		r.add(ledger.Record{CustomerID: id, Type: ledger.Activate, CommandID: cmdID, Field: "activateCustomer", Answer: ledger.Timeout, Code: "TIMEOUT"})
		rep := r.check(id)
		expect(t, rep, invariant.Unprocessed, id)
		if n := rep.ByKind()[invariant.Unprocessed]; n != 2 {
			t.Fatalf("want 2 unprocessed (waiting in the stream, no outcome), got %d:\n%s", n, rep.Summary())
		}
	})
}

// emulatorCall calls the Twilio emulator's API with its main account.
func emulatorCall(t *testing.T, s *stacktest.Stack, method, path string, form url.Values) {
	t.Helper()
	req, err := http.NewRequest(method, s.Twilio.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.Twilio.AccountSID(), s.Twilio.AuthToken())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
}
