package retention_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
)

// scheduleRaw writes a key record field by field and its schedule entry,
// as a bug, a manual edit or an old version might have left them.
func (e *env) scheduleRaw(id string, fields map[string]any, due time.Time) {
	e.t.Helper()
	if err := e.rdb.HSet(ctx(e.t), "cust:{"+id+"}:key", fields).Err(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.ScheduleKeyDestruction(ctx(e.t), id, due); err != nil {
		e.t.Fatal(err)
	}
}

// TestUnreadableRecordsAreNeverDestroyed: schedule entries whose key
// record (or the entry itself) cannot be read are left alone, counted,
// logged without their content and reported as overdue; the sweep goes
// on with the others. Once the record is fixed, the key is destroyed.
func TestUnreadableRecordsAreNeverDestroyed(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	cfg := e.config(t)
	cfg.PermanentRetry = time.Hour
	svc, err := retention.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const garbage = "sometime-soonish"
	garbled, undated, badState, fine := newID(), newID(), newID(), newID()
	due := now.Add(-2 * time.Hour)
	for _, id := range []string{garbled, undated, badState, fine} {
		if err := e.keys.CreateKey(ctx(t), id); err != nil {
			t.Fatal(err)
		}
	}
	e.scheduleRaw(garbled, map[string]any{"state": "SCHEDULED", "destroyAt": garbage, "partnerId": partnerID}, due)
	e.scheduleRaw(undated, map[string]any{"state": "SCHEDULED", "partnerId": partnerID}, due)
	e.scheduleRaw(badState, map[string]any{"state": garbage, "destroyAt": due.Format(time.RFC3339Nano)}, due)
	e.scheduleRaw(fine, map[string]any{"state": "SCHEDULED", "destroyAt": due.Add(time.Hour).Format(time.RFC3339Nano), "partnerId": partnerID}, due.Add(time.Hour))
	const notAnID = "../../sys/seal"
	if err := e.store.ScheduleKeyDestruction(ctx(t), notAnID, due); err != nil {
		t.Fatal(err)
	}
	recordsBefore := testenv.Metric(t, "textkit_retention_unreadable_records_total", "source", "key_record")
	entriesBefore := testenv.Metric(t, "textkit_retention_unreadable_records_total", "source", "schedule_entry")

	res, err := svc.Sweep(ctx(t))
	if err == nil || res.Destroyed != 1 || res.Unreadable != 4 || res.Failed != 0 {
		t.Fatalf("sweep: %+v, %v; want the readable one destroyed and four left alone", res, err)
	}
	if failure.IsTransient(err) {
		t.Errorf("sweep leaving unreadable records alone: %v is transient, want permanent", err)
	}
	for _, id := range []string{garbled, undated, badState} {
		if !e.keyExists(id) {
			t.Fatalf("key of an unreadable record was destroyed")
		}
		if at, ok, _ := e.store.KeyDestructionEntry(ctx(t), id); !ok || !at.Equal(now.Add(time.Hour)) {
			t.Fatalf("unreadable entry at %v (%v), want left in place until %v", at, ok, now.Add(time.Hour))
		}
		if n := len(e.keyEventsOf(id, command.KeyDestroyed)); n != 0 {
			t.Fatalf("%d destroyed events for an unreadable record", n)
		}
	}
	if raw, _ := e.rdb.HGet(ctx(t), "cust:{"+garbled+"}:key", "state").Result(); raw != "SCHEDULED" {
		t.Fatalf("unreadable record's state changed to %q", raw)
	}
	if _, ok, _ := e.store.KeyDestructionEntry(ctx(t), notAnID); !ok {
		t.Fatal("an entry that is not a customer id was dropped instead of left for an operator")
	}
	if r := e.record(fine); r.State != keys.Destroyed || e.keyExists(fine) {
		t.Fatalf("the readable key is %s (exists %v); the sweep did not go on", r.State, e.keyExists(fine))
	}
	if got := testenv.Metric(t, "textkit_retention_unreadable_records_total", "source", "key_record") - recordsBefore; got != 3 {
		t.Errorf("unreadable key records counted %v, want 3", got)
	}
	if got := testenv.Metric(t, "textkit_retention_unreadable_records_total", "source", "schedule_entry") - entriesBefore; got != 1 {
		t.Errorf("unreadable schedule entries counted %v, want 1", got)
	}
	if got := testenv.Metric(t, "textkit_retention_destructions_overdue"); got != 4 {
		t.Errorf("overdue gauge %v, want 4", got)
	}
	if got := testenv.Metric(t, "textkit_retention_destructions_overdue_oldest_seconds"); got != (2 * time.Hour).Seconds() {
		t.Errorf("oldest overdue %vs, want %v", got, (2 * time.Hour).Seconds())
	}
	if logs := e.logs.String(); strings.Contains(logs, garbage) || strings.Contains(logs, notAnID) {
		t.Error("the logs repeat an unreadable record's content")
	}

	// An operator fixes one record; after the postponement it goes.
	if err := e.rdb.HSet(ctx(t), "cust:{"+garbled+"}:key", "destroyAt", due.Format(time.RFC3339Nano)).Err(); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(now.Add(time.Hour))
	res, _ = svc.Sweep(ctx(t))
	if res.Destroyed != 1 || res.Unreadable != 3 {
		t.Fatalf("sweep after the fix: %+v", res)
	}
	if r := e.record(garbled); r.State != keys.Destroyed || e.keyExists(garbled) || !r.DestroyAt.Equal(due) {
		t.Fatalf("fixed record: %+v, key exists %v", r, e.keyExists(garbled))
	}
	if got := testenv.Metric(t, "textkit_retention_destructions_overdue"); got != 3 {
		t.Errorf("overdue gauge after the fix %v, want 3", got)
	}
}

// TestTerminationEventsThatCannotBeReadNeverDestroy: a TEMPORARY
// termination without its time has no date (the zero time would make the
// key due long ago); a retention retention cannot apply keeps the key. Both
// are counted. NO_RETENTION without its time still destroys now.
func TestTerminationEventsThatCannotBeReadNeverDestroy(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	svc, err := retention.New(e.config(t))
	if err != nil {
		t.Fatal(err)
	}
	timeless, unknown, shredded := newID(), newID(), newID()
	for _, id := range []string{timeless, unknown, shredded} {
		if err := svc.Handle(ctx(t), eventJSON(t, registered(id, now.Add(-time.Hour)))); err != nil {
			t.Fatal(err)
		}
	}
	eventsBefore := testenv.Metric(t, "textkit_retention_unreadable_records_total", "source", "event")

	ev := terminated(timeless, customer.Retention{Strategy: customer.Temporary, Period: 1}, time.Time{})
	if err := svc.Handle(ctx(t), eventJSON(t, ev)); err != nil {
		t.Fatalf("Handle = %v, want it finished (logged and counted)", err)
	}
	if r := e.record(timeless); r.State != keys.Active || !e.keyExists(timeless) {
		t.Fatalf("TEMPORARY without occurredAt: key %s, exists %v; want ACTIVE and present", r.State, e.keyExists(timeless))
	}
	if _, ok, _ := e.store.KeyDestructionEntry(ctx(t), timeless); ok {
		t.Fatal("TEMPORARY without occurredAt was scheduled")
	}

	ev = terminated(unknown, customer.Retention{Strategy: "FOREVER_AND_A_DAY"}, now)
	if err := svc.Handle(ctx(t), eventJSON(t, ev)); err != nil {
		t.Fatal(err)
	}
	if r := e.record(unknown); r.State != keys.Active || !e.keyExists(unknown) {
		t.Fatalf("unknown strategy: key %s, exists %v; want kept", r.State, e.keyExists(unknown))
	}
	if got := testenv.Metric(t, "textkit_retention_unreadable_records_total", "source", "event") - eventsBefore; got != 2 {
		t.Errorf("unreadable events counted %v, want 2", got)
	}

	ev = terminated(shredded, customer.Retention{Strategy: customer.NoRetention}, time.Time{})
	if err := svc.Handle(ctx(t), eventJSON(t, ev)); err != nil {
		t.Fatal(err)
	}
	if r := e.record(shredded); r.State != keys.Destroyed || !r.DestroyAt.Equal(now) || e.keyExists(shredded) {
		t.Fatalf("NO_RETENTION without occurredAt: %+v, exists %v; want destroyed, due now", r, e.keyExists(shredded))
	}
}

// TestEventOnAnUnreadableKeyRecordIsRedelivered: the record is left alone
// and the event fails (to be redelivered) until an operator fixes it.
func TestEventOnAnUnreadableKeyRecordIsRedelivered(t *testing.T) {
	e := newEnv(t)
	svc, err := retention.New(e.config(t))
	if err != nil {
		t.Fatal(err)
	}
	id := newID()
	if err := e.keys.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.HSet(ctx(t), "cust:{"+id+"}:key", "state", "SCHEDULD").Err(); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*command.Event{
		registered(id, time.Now()),
		terminated(id, customer.Retention{Strategy: customer.NoRetention}, time.Now()),
	} {
		if err := svc.Handle(ctx(t), eventJSON(t, ev)); !errors.Is(err, keys.ErrUnreadable) {
			t.Fatalf("%s on an unreadable record: %v, want ErrUnreadableKeyRecord (redelivered)", ev.Type, err)
		}
	}
	if raw, _ := e.rdb.HGet(ctx(t), "cust:{"+id+"}:key", "state").Result(); raw != "SCHEDULD" || !e.keyExists(id) {
		t.Fatalf("record %q, key exists %v; want both untouched", raw, e.keyExists(id))
	}
	if _, ok, _ := e.store.KeyDestructionEntry(ctx(t), id); ok {
		t.Fatal("scheduled on an unreadable record")
	}
}

// TestDestructionIsRecordedOnlyWhenVaultConfirmsIt runs retention's real
// Vault adapter through a proxy that answers the delete with a 404 but
// does not forward it (the key stays): nothing is recorded destroyed, the
// entry is postponed and counted overdue; once the proxy is out of the
// way, the next sweep destroys and records it.
func TestDestructionIsRecordedOnlyWhenVaultConfirmsIt(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	target, err := url.Parse(e.vault.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	lying := true
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lie := lying
		mu.Unlock()
		if lie && r.Method == http.MethodDelete {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[]}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	vc, err := vault.New(vault.Config{Addr: srv.URL, Token: e.tokens.Retention})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t)
	cfg.Keys = vc
	cfg.PermanentRetry = time.Hour
	svc, err := retention.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := newID()
	if err := e.keys.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	due := now.Add(-time.Minute)
	if _, _, err := e.store.AdvanceKeyStatus(ctx(t), id, keys.Record{State: keys.Scheduled, DestroyAt: due, PartnerID: partnerID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ScheduleKeyDestruction(ctx(t), id, due); err != nil {
		t.Fatal(err)
	}

	res, err := svc.Sweep(ctx(t))
	if !errors.Is(err, vault.ErrInvalid) || res.Destroyed != 0 || res.Failed != 1 {
		t.Fatalf("sweep behind a lying proxy: %+v, %v; want the destruction refused as unconfirmed", res, err)
	}
	if failure.IsTransient(err) {
		t.Errorf("sweep behind a lying proxy: %v is transient, want permanent", err)
	}
	if r := e.record(id); r.State != keys.Scheduled || !e.keyExists(id) {
		t.Fatalf("key recorded %s while it exists: %v", r.State, e.keyExists(id))
	}
	if len(e.keyEventsOf(id, command.KeyDestroyed)) != 0 {
		t.Fatal("destroyed event for a key that exists")
	}
	if got := testenv.Metric(t, "textkit_retention_destructions_overdue"); got != 1 {
		t.Errorf("overdue gauge %v, want 1", got)
	}

	mu.Lock()
	lying = false
	mu.Unlock()
	e.clock.Set(now.Add(time.Hour))
	if res, err := svc.Sweep(ctx(t)); err != nil || res.Destroyed != 1 {
		t.Fatalf("sweep after the proxy is fixed: %+v, %v", res, err)
	}
	if r := e.record(id); r.State != keys.Destroyed || e.keyExists(id) {
		t.Fatalf("after the fix: key %s, exists %v", r.State, e.keyExists(id))
	}
	if got := testenv.Metric(t, "textkit_retention_destructions_overdue"); got != 0 {
		t.Errorf("overdue gauge after the destruction %v, want 0", got)
	}
}

// eventJSON encodes ev as the provisioner publishes it.
func eventJSON(t *testing.T, ev *command.Event) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
