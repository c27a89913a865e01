package retention_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
)

func TestRegisteredCustomerGetsAnActiveKeyOnce(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	id := newID()
	created := testenv.Metric(t, "textkit_retention_keys_created_total")

	e.publish(registered(id, time.Now()))
	e.waitState(id, keys.Active)
	if !e.keyExists(id) {
		t.Fatal("key recorded ACTIVE but missing in Vault")
	}
	// The same event republished outside JetStream's de-duplication
	// window (a new message id) changes nothing.
	again := registered(id, time.Now())
	again.ID = "cmd-reg-again-" + id
	e.publish(again)
	e.waitConsumed()

	if r := e.record(id); r.State != keys.Active || r.PartnerID != partnerID {
		t.Fatalf("record %+v, want ACTIVE for partner %s", r, partnerID)
	}
	evs := e.keyEvents(id)
	if len(evs) != 1 || evs[0].Type != command.KeyCreated || evs[0].ID != "key-created-"+id || evs[0].PartnerID != partnerID {
		t.Fatalf("key events %+v, want one %s", evs, command.KeyCreated)
	}
	if got := testenv.Metric(t, "textkit_retention_keys_created_total") - created; got != 1 {
		t.Fatalf("keys created metric went up by %v, want 1", got)
	}
}

func TestNoRetentionShredsTheKeyAtOnce(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	id := newID()
	e.publish(registered(id, time.Now()))
	e.waitState(id, keys.Active)

	// Data written while the key lived, by the provisioner.
	prov := e.vault.Client(t, e.tokens.Provisioner)
	ct, err := prov.Encrypt(ctx(t), id, []byte(`{"businessName":"Canary Co."}`))
	if err != nil {
		t.Fatal(err)
	}
	period := 12 // the spec's example sends a period with NO_RETENTION
	term := terminated(id, customer.Retention{Strategy: customer.NoRetention, Period: period}, time.Now())
	e.publish(term)
	r := e.waitState(id, keys.Destroyed)

	if _, err := e.vault.Client(t, e.tokens.Gateway).Decrypt(ctx(t), id, ct); !errors.Is(err, vault.ErrKeyNotFound) {
		t.Fatalf("decrypt after shredding: %v, want ErrKeyNotFound", err)
	}
	if e.keyExists(id) {
		t.Fatal("key still in Vault")
	}
	if r.DestroyedAt.IsZero() || !strings.Contains(r.Reason, "NO_RETENTION") || r.CommandID != term.CommandID {
		t.Fatalf("record %+v, want DestroyedAt, a NO_RETENTION reason and the termination's command id", r)
	}
	ev := e.waitKeyEvents(id, command.KeyDestroyed, 1)[0]
	if ev.ID != "key-destroyed-"+id || ev.CommandID != term.CommandID || ev.Reason != r.Reason ||
		!ev.At.Equal(r.DestroyedAt) || ev.PartnerID != partnerID {
		t.Fatalf("destroyed event %+v does not match record %+v", ev, r)
	}
	// The schedule entry is settled last (record, event, then entry), so
	// it may outlive the DESTROYED record by a moment, not longer.
	testenv.Eventually(t, 5*time.Second, func() error {
		_, ok, err := e.store.KeyDestructionEntry(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return errors.New("schedule entry left behind")
		}
		return nil
	})
	if len(e.keyEventsOf(id, command.KeyScheduled)) != 0 {
		t.Fatal("NO_RETENTION published a scheduled event")
	}
}

func TestTemporaryIsNotOneSecondEarlyAndDoneRightAfter(t *testing.T) {
	e := newEnv(t)
	terminatedAt := time.Date(2025, 1, 31, 10, 20, 30, 0, time.UTC)
	due := time.Date(2025, 2, 28, 10, 20, 30, 0, time.UTC) // Jan 31 + 1 month
	e.clock.Set(terminatedAt.Add(-time.Hour))
	r1 := e.start(t)
	id := newID()
	e.publish(registered(id, terminatedAt.Add(-time.Hour)))
	e.waitState(id, keys.Active)
	e.clock.Set(terminatedAt.Add(time.Second))
	term := terminated(id, customer.Retention{Strategy: customer.Temporary, Period: 1}, terminatedAt)
	e.publish(term)

	r := e.waitState(id, keys.Scheduled)
	if !r.DestroyAt.Equal(due) {
		t.Fatalf("scheduled for %v, want %v", r.DestroyAt, due)
	}
	sch := e.waitKeyEvents(id, command.KeyScheduled, 1)
	if !sch[0].At.Equal(due) || sch[0].CommandID != term.CommandID {
		t.Fatalf("scheduled events %+v, want one at %v", sch, due)
	}

	for _, early := range []time.Duration{24 * time.Hour, time.Second, time.Millisecond} {
		e.clock.Set(due.Add(-early))
		res, err := r1.Sweep(ctx(t))
		if err != nil || res.Destroyed != 0 {
			t.Fatalf("sweep %v early: %+v, %v; want nothing done", early, res, err)
		}
		if got := e.record(id); got.State != keys.Scheduled || !e.keyExists(id) {
			t.Fatalf("%v early: key %s, exists %v; want SCHEDULED and present", early, got.State, e.keyExists(id))
		}
	}

	e.clock.Set(due)
	res, err := r1.Sweep(ctx(t))
	if err != nil || res.Destroyed != 1 {
		t.Fatalf("sweep at the due time: %+v, %v; want one destroyed", res, err)
	}
	got := e.record(id)
	if got.State != keys.Destroyed || !got.DestroyedAt.Equal(due) || !got.DestroyAt.Equal(due) {
		t.Fatalf("record %+v, want DESTROYED at %v", got, due)
	}
	if e.keyExists(id) {
		t.Fatal("key still in Vault")
	}
	if evs := e.keyEventsOf(id, command.KeyDestroyed); len(evs) != 1 || !evs[0].At.Equal(due) || evs[0].CommandID != term.CommandID {
		t.Fatalf("destroyed events %+v", evs)
	}

	// A redelivered termination after the destruction changes nothing.
	again := terminated(id, customer.Retention{Strategy: customer.Temporary, Period: 1}, terminatedAt)
	again.ID = "cmd-term-again-" + id
	e.publish(again)
	e.waitConsumed()
	if got := e.record(id); got.State != keys.Destroyed {
		t.Fatalf("key %s after a redelivered termination", got.State)
	}
	if _, ok, _ := e.store.KeyDestructionEntry(ctx(t), id); ok {
		t.Fatal("a redelivered termination rescheduled a destroyed key")
	}
	if res, err := r1.Sweep(ctx(t)); err != nil || res.Destroyed != 0 {
		t.Fatalf("sweep after everything: %+v %v", res, err)
	}
}

func TestIndefiniteKeepsTheKeyForever(t *testing.T) {
	e := newEnv(t)
	r1 := e.start(t)
	id := newID()
	e.publish(registered(id, time.Now()))
	e.waitState(id, keys.Active)
	e.publish(terminated(id, customer.Retention{Strategy: customer.Indefinite}, time.Now()))
	testenv.Eventually(t, 15*time.Second, func() error {
		if r := e.record(id); !strings.Contains(r.Reason, "INDEFINITE") {
			return errors.New("no INDEFINITE decision recorded yet")
		}
		return nil
	})
	e.clock.Set(time.Now().AddDate(200, 0, 0))
	if res, err := r1.Sweep(ctx(t)); err != nil || res.Destroyed != 0 {
		t.Fatalf("sweep 200 years later: %+v %v", res, err)
	}
	if r := e.record(id); r.State != keys.Active || !r.DestroyAt.IsZero() {
		t.Fatalf("record %+v, want ACTIVE and nothing scheduled", r)
	}
	if !e.keyExists(id) {
		t.Fatal("key gone")
	}
	if len(e.keyEventsOf(id, command.KeyDestroyed))+len(e.keyEventsOf(id, command.KeyScheduled)) != 0 {
		t.Fatal("key events for a kept key")
	}
}

func TestTerminationBeforeRegistrationEndsCorrectly(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	r1 := e.start(t)
	shredded, scheduled, kept := newID(), newID(), newID()

	// The registered events arrive last (lost and republished, say).
	e.publish(terminated(shredded, customer.Retention{Strategy: customer.NoRetention}, now))
	e.publish(terminated(scheduled, customer.Retention{Strategy: customer.Temporary, Period: 2}, now))
	e.publish(terminated(kept, customer.Retention{Strategy: customer.Indefinite}, now))
	e.waitState(shredded, keys.Destroyed)
	e.waitState(scheduled, keys.Scheduled)
	e.waitState(kept, keys.Active)
	for _, id := range []string{shredded, scheduled, kept} {
		e.publish(registered(id, now.Add(-time.Hour)))
	}
	e.waitConsumed()

	if r := e.record(shredded); r.State != keys.Destroyed || e.keyExists(shredded) {
		t.Fatalf("NO_RETENTION first: key %s, exists %v; want DESTROYED and absent", r.State, e.keyExists(shredded))
	}
	if len(e.keyEventsOf(shredded, command.KeyDestroyed)) != 1 || len(e.keyEventsOf(shredded, command.KeyCreated)) != 0 {
		t.Fatalf("NO_RETENTION first: key events %+v", e.keyEvents(shredded))
	}
	if r := e.record(scheduled); r.State != keys.Scheduled || e.keyExists(scheduled) {
		t.Fatalf("TEMPORARY first: key %s, exists %v; want SCHEDULED and never created", r.State, e.keyExists(scheduled))
	}
	if r := e.record(kept); r.State != keys.Active || !e.keyExists(kept) {
		t.Fatalf("INDEFINITE first: key %s, exists %v; want ACTIVE and present", r.State, e.keyExists(kept))
	}

	e.clock.Set(time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC))
	if res, err := r1.Sweep(ctx(t)); err != nil || res.Destroyed != 1 {
		t.Fatalf("sweep at the due time: %+v %v; want the never-created key counted destroyed", res, err)
	}
	if r := e.record(scheduled); r.State != keys.Destroyed {
		t.Fatalf("TEMPORARY first: key %s after its due time", r.State)
	}
}

func TestScheduleSurvivesRestartsOfRetentionAndRedis(t *testing.T) {
	e := newEnv(t)
	terminatedAt := time.Date(2025, 1, 31, 10, 20, 30, 0, time.UTC)
	e.clock.Set(terminatedAt)
	first := e.start(t)
	a, b := newID(), newID()
	for _, id := range []string{a, b} {
		e.publish(registered(id, terminatedAt.Add(-time.Hour)))
		e.publish(terminated(id, customer.Retention{Strategy: customer.Temporary, Period: 1}, terminatedAt))
		e.waitState(id, keys.Scheduled)
	}
	first.stop()

	// While retention is down: Redis restarts, a customer registers, and
	// the keys fall due (days of downtime).
	e.redis.Restart(t)
	c := newID()
	e.publish(registered(c, terminatedAt))
	e.clock.Set(time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC))

	e.start(t) // its start-up sweep catches up
	for _, id := range []string{a, b} {
		r := e.waitState(id, keys.Destroyed)
		if !r.DestroyAt.Equal(time.Date(2025, 2, 28, 10, 20, 30, 0, time.UTC)) || e.keyExists(id) {
			t.Fatalf("record %+v, key exists %v", r, e.keyExists(id))
		}
	}
	e.waitState(c, keys.Active)
}

func TestTwoReplicasDestroyEachDueKeyOnce(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)
	e.clock.Set(base)
	ck := &countingKeys{Keys: e.keys, destroyed: map[string]int{}}
	useKeys := func(c *retention.Config) { c.Keys = ck }
	r1, r2 := e.start(t, useKeys), e.start(t, useKeys)

	const n, due = 24, 16
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newID()
		e.publish(registered(ids[i], base))
	}
	for i, id := range ids {
		e.waitState(id, keys.Active)
		// Terminated i hours apart: keys fall due i hours after base+1 month.
		e.publish(terminated(id, customer.Retention{Strategy: customer.Temporary, Period: 1}, base.Add(time.Duration(i)*time.Hour)))
	}
	for _, id := range ids {
		e.waitState(id, keys.Scheduled)
	}
	destroyedBefore := testenv.Metric(t, "textkit_retention_keys_destroyed_total")
	now := base.AddDate(0, 1, 0).Add((due - 1) * time.Hour) // keys 0..due-1 are due
	e.clock.Set(now)

	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, r := range []*replica{r1, r2, r1, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Sweep(ctx(t))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += res.Destroyed
			mu.Unlock()
		}()
	}
	wg.Wait()

	if total != due {
		t.Fatalf("sweeps destroyed %d keys, want %d", total, due)
	}
	for i, id := range ids {
		r := e.record(id)
		if i < due {
			if r.State != keys.Destroyed || ck.count(id) != 1 || len(e.keyEventsOf(id, command.KeyDestroyed)) != 1 {
				t.Fatalf("due key %d: %s, destroyed %d times, %d events", i, r.State, ck.count(id), len(e.keyEventsOf(id, command.KeyDestroyed)))
			}
			continue
		}
		if r.State != keys.Scheduled || ck.count(id) != 0 || !e.keyExists(id) {
			t.Fatalf("key %d, due at %v, is %s at %v", i, r.DestroyAt, r.State, now)
		}
	}
	if got := testenv.Metric(t, "textkit_retention_keys_destroyed_total") - destroyedBefore; got != due {
		t.Fatalf("destroyed metric went up by %v, want %d", got, due)
	}
}

func TestRetentionTokenCannotEncryptOrDecrypt(t *testing.T) {
	e := newEnv(t)
	id := newID()
	if err := e.keys.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	ct, err := e.vault.Client(t, e.tokens.Provisioner).Encrypt(ctx(t), id, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.keys.Encrypt(ctx(t), id, []byte("secret")); !errors.Is(err, vault.ErrForbidden) {
		t.Fatalf("retention encrypt: %v, want ErrForbidden", err)
	}
	if _, err := e.keys.Decrypt(ctx(t), id, ct); !errors.Is(err, vault.ErrForbidden) {
		t.Fatalf("retention decrypt: %v, want ErrForbidden", err)
	}
}

func TestRunWaitsForTheEventStream(t *testing.T) {
	e := newEnv(t, withoutStreams())
	svc, err := retention.New(e.config(t))
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- svc.Run(c, retention.RunConfig{Conn: e.nats.Connect(t, "retention"), Running: running, CloseTimeout: 5 * time.Second})
	}()
	testenv.Eventually(t, 15*time.Second, func() error {
		if !strings.Contains(e.logs.String(), "event stream not there yet") {
			return errors.New("retention has not noticed the missing stream")
		}
		return nil
	})
	e.ensureStreams()
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("retention stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("retention did not start once the stream existed")
	}
	id := newID()
	e.publish(registered(id, time.Now()))
	e.waitState(id, keys.Active)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
