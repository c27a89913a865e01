package retention_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

// TestVaultRestartSealAndStopNeverFakeADestruction runs against a Vault
// with file storage: keys survive its restart; while it is sealed or
// stopped, sweeps fail transiently and nothing is recorded destroyed;
// once it is back, the same sweeps finish the job.
func TestVaultRestartSealAndStopNeverFakeADestruction(t *testing.T) {
	vs := vaulttest.StartPersistent(t)
	e := newEnv(t, withVault(vs))
	terminatedAt := time.Date(2025, 1, 31, 10, 20, 30, 0, time.UTC)
	e.clock.Set(terminatedAt)
	r1 := e.start(t)
	sealed, stopped := newID(), newID()
	for _, id := range []string{sealed, stopped} {
		e.publish(registered(id, terminatedAt.Add(-time.Hour)))
		e.publish(terminated(id, customer.Retention{Strategy: customer.Temporary, Period: 1}, terminatedAt))
		e.waitState(id, keys.Scheduled)
	}

	vs.Restart(t)
	for _, id := range []string{sealed, stopped} {
		if !e.keyExists(id) {
			t.Fatal("key lost in a Vault restart")
		}
	}
	e.clock.Set(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))

	failedSweep := func(what string) {
		t.Helper()
		res, err := r1.Sweep(ctx(t))
		if err == nil || !vault.IsTransient(err) || res.Destroyed != 0 {
			t.Fatalf("sweep while Vault is %s: %+v, %v; want a transient failure", what, res, err)
		}
		for _, id := range []string{sealed, stopped} {
			if r := e.record(id); r.State != keys.Scheduled {
				t.Fatalf("key %s while Vault is %s", r.State, what)
			}
			if _, ok, _ := e.store.KeyDestructionEntry(ctx(t), id); !ok {
				t.Fatalf("schedule entry gone while Vault is %s", what)
			}
		}
	}
	vs.Seal(t)
	failedSweep("sealed")
	failedSweep("sealed") // the entry was given back, not lost in a claim
	vs.Unseal(t)
	if res, err := r1.Sweep(ctx(t)); err != nil || res.Destroyed != 2 {
		t.Fatalf("sweep after unseal: %+v %v", res, err)
	}
	for _, id := range []string{sealed, stopped} {
		if r := e.record(id); r.State != keys.Destroyed || e.keyExists(id) {
			t.Fatalf("after unseal: key %s, exists %v", r.State, e.keyExists(id))
		}
	}

	// Stopped: a termination arrives and its key falls due while Vault is down.
	down := newID()
	e.publish(registered(down, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)))
	e.waitState(down, keys.Active)
	vs.Stop(t)
	e.publish(terminated(down, customer.Retention{Strategy: customer.NoRetention}, time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC)))
	e.waitConsumed() // acknowledged: the schedule owns the destruction now
	if r := e.record(down); r.State != keys.Scheduled {
		t.Fatalf("NO_RETENTION with Vault down: key %s, want SCHEDULED until Vault confirms", r.State)
	}
	res, err := r1.Sweep(ctx(t))
	if err == nil || !vault.IsTransient(err) || res.Destroyed != 0 {
		t.Fatalf("sweep while Vault is stopped: %+v, %v; want a transient failure", res, err)
	}
	if len(e.keyEventsOf(down, command.KeyDestroyed)) != 0 {
		t.Fatal("destroyed event while Vault is stopped")
	}
	vs.Start(t)
	vs.Unseal(t)
	if res, err := r1.Sweep(ctx(t)); err != nil || res.Destroyed != 1 {
		t.Fatalf("sweep after Vault is back: %+v %v", res, err)
	}
	if r := e.record(down); r.State != keys.Destroyed || e.keyExists(down) {
		t.Fatalf("after Vault is back: key %s, exists %v", r.State, e.keyExists(down))
	}
	e.waitKeyEvents(down, command.KeyDestroyed, 1)
}

// flakyKeys is a hand-written fake of Vault's key management: it fails
// with errFlaky while failing is set, and refuses (permanently) to destroy
// the keys in refuse.
type flakyKeys struct {
	mu        sync.Mutex
	failing   int // calls left to fail
	refuse    map[string]bool
	keys      map[string]bool
	destroyed map[string]int
}

var errRefused = errors.New("fake vault: permission denied")

func newFlakyKeys() *flakyKeys {
	return &flakyKeys{refuse: map[string]bool{}, keys: map[string]bool{}, destroyed: map[string]int{}}
}

func (k *flakyKeys) CreateKey(_ context.Context, id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failing > 0 {
		k.failing--
		return errFlaky
	}
	k.keys[id] = true
	return nil
}

func (k *flakyKeys) DestroyKey(_ context.Context, id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failing > 0 {
		k.failing--
		return errFlaky
	}
	if k.refuse[id] {
		return errRefused
	}
	delete(k.keys, id)
	k.destroyed[id]++
	return nil
}

func (k *flakyKeys) setFailing(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.failing = n
}

func (k *flakyKeys) destroyCount(id string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.destroyed[id]
}

func withFlakyKeys(k *flakyKeys) func(*retention.Config) {
	return func(c *retention.Config) {
		c.Keys = k
		c.IsTransient = func(err error) bool { return errors.Is(err, errFlaky) }
	}
}

func TestSweeperRetriesSoonAfterATransientFailure(t *testing.T) {
	e := newEnv(t)
	fk := newFlakyKeys()
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	id := newID()
	// Scheduled and due before retention starts (it was down).
	if _, _, err := e.store.AdvanceKeyStatus(ctx(t), id, keys.Record{
		State: keys.Scheduled, DestroyAt: now.Add(-time.Hour), PartnerID: partnerID, CommandID: "cmd-term-" + id, Reason: "test",
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ScheduleKeyDestruction(ctx(t), id, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	fk.setFailing(5) // the start-up sweep's attempts fail, and a few more
	errorsBefore := testenv.Metric(t, "textkit_retention_sweep_errors_total")
	e.start(t, withFlakyKeys(fk)) // SweepInterval is an hour: only the backoff can bring it back

	r := e.waitState(id, keys.Destroyed)
	if fk.destroyCount(id) != 1 || !r.DestroyedAt.Equal(now) {
		t.Fatalf("destroyed %d times, record %+v", fk.destroyCount(id), r)
	}
	if testenv.Metric(t, "textkit_retention_sweep_errors_total") <= errorsBefore {
		t.Fatal("sweep errors metric did not count the failures")
	}
	e.waitKeyEvents(id, command.KeyDestroyed, 1)
}

// refusingEnv is a retention service (not running: the test sweeps) with
// fake keys the test can make Vault refuse, its clock at now, and
// PermanentRetry retry.
func refusingEnv(t *testing.T, retry time.Duration) (e *env, fk *flakyKeys, svc *retention.Service, now time.Time) {
	t.Helper()
	e, fk = newEnv(t), newFlakyKeys()
	now = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	cfg := e.config(t)
	withFlakyKeys(fk)(&cfg)
	cfg.PermanentRetry = retry
	svc, err := retention.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, fk, svc, now
}

func TestPermanentFailureIsPostponedWithoutHoldingUpOthers(t *testing.T) {
	e, fk, svc, now := refusingEnv(t, time.Hour)
	refused, fine := newID(), newID()
	fk.refuse[refused] = true
	for i, id := range []string{refused, fine} {
		at := now.Add(-time.Duration(2-i) * time.Hour) // the refused one is first in line
		if _, _, err := e.store.AdvanceKeyStatus(ctx(t), id, keys.Record{State: keys.Scheduled, DestroyAt: at, PartnerID: partnerID}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.ScheduleKeyDestruction(ctx(t), id, at); err != nil {
			t.Fatal(err)
		}
	}
	res, err := svc.Sweep(ctx(t))
	if !errors.Is(err, errRefused) || res.Destroyed != 1 || res.Failed != 1 {
		t.Fatalf("sweep: %+v, %v; want one destroyed and the refusal reported", res, err)
	}
	if r := e.record(refused); r.State != keys.Scheduled {
		t.Fatalf("refused key recorded %s", r.State)
	}
	if at, ok, _ := e.store.KeyDestructionEntry(ctx(t), refused); !ok || !at.Equal(now.Add(time.Hour)) {
		t.Fatalf("refused entry at %v (%v), want postponed to %v", at, ok, now.Add(time.Hour))
	}
	if r := e.record(fine); r.State != keys.Destroyed {
		t.Fatalf("the other key is %s", r.State)
	}
}

// TestARefusedDestructionIsRetriedSoonAtFirst: a key Vault refused to
// destroy waits as long as it is overdue, from 30 s up to PermanentRetry,
// so a refusal that was only Vault's passing state (a failover) delays
// the destruction by half a minute, not by PermanentRetry.
func TestARefusedDestructionIsRetriedSoonAtFirst(t *testing.T) {
	e, fk, svc, now := refusingEnv(t, 5*time.Minute)
	id := newID()
	fk.refuse[id] = true
	if _, _, err := e.store.AdvanceKeyStatus(ctx(t), id, keys.Record{State: keys.Scheduled, DestroyAt: now, PartnerID: partnerID}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ScheduleKeyDestruction(ctx(t), id, now); err != nil {
		t.Fatal(err)
	}
	// Overdue by 0, 30 s, 1 min, 2 min, 4 min, 8 min: the waits double
	// from 30 s and stop at PermanentRetry.
	at := now
	for _, wait := range []time.Duration{30 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute} {
		e.clock.Set(at)
		if _, err := svc.Sweep(ctx(t)); !errors.Is(err, errRefused) {
			t.Fatalf("sweep at %v: %v, want the refusal", at, err)
		}
		next, ok, err := e.store.KeyDestructionEntry(ctx(t), id)
		if err != nil || !ok || !next.Equal(at.Add(wait)) {
			t.Fatalf("refused at %v (overdue %v): entry at %v (%v, %v), want %v", at, at.Sub(now), next, ok, err, at.Add(wait))
		}
		at = next
	}
	delete(fk.refuse, id)
	e.clock.Set(at)
	if res, err := svc.Sweep(ctx(t)); err != nil || res.Destroyed != 1 {
		t.Fatalf("sweep once Vault accepts: %+v, %v", res, err)
	}
	if r := e.record(id); r.State != keys.Destroyed {
		t.Fatalf("key %s, want DESTROYED", r.State)
	}
}

func TestEventsRetentionDoesNotOwnAreIgnored(t *testing.T) {
	e := newEnv(t)
	fk := newFlakyKeys()
	cfg := e.config(t)
	withFlakyKeys(fk)(&cfg)
	svc, err := retention.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := newID()
	for _, data := range []string{
		`not json`,
		`{"type":"customer.activated","customerId":"` + id + `","partnerId":"` + partnerID + `"}`,
		`{"type":"customer.registered","customerId":"../sys","partnerId":"` + partnerID + `"}`,
		`{"type":"customer.terminated","customerId":"","partnerId":"` + partnerID + `"}`,
	} {
		if err := svc.Handle(ctx(t), []byte(data)); err != nil {
			t.Fatalf("%s: %v, want it finished (logged)", data, err)
		}
	}
	if len(fk.keys) != 0 {
		t.Fatalf("keys created: %v", fk.keys)
	}
}

func TestTransientVaultFailureOnRegistrationIsRedelivered(t *testing.T) {
	e := newEnv(t)
	fk := newFlakyKeys()
	fk.setFailing(7) // more than one delivery's attempts
	e.start(t, withFlakyKeys(fk))
	id := newID()
	e.publish(registered(id, time.Now()))
	e.waitState(id, keys.Active)
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if !fk.keys[id] {
		t.Fatal("key recorded ACTIVE but not created")
	}
}
