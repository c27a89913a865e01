// Package chaos runs the whole stack as separate processes, with an
// embedded toxiproxy between each service and each dependency, and for
// each scenario: runs load, injects one fault at a seeded random moment,
// ends it, waits until the stack is quiet, and checks the invariants
// (internal/invariant) against the load's ledger. docs/chaos.md describes
// the scenarios and the report.
package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/invariant"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/vault"
)

// LoadSpec is one scenario's load: where the stack is, what to send and
// where to write the ledger.
type LoadSpec struct {
	GraphQLURL string
	APIKey     string
	NATSURL    string
	// NATSPassword is the seed partner's direct-publisher password.
	NATSPassword    string
	PartnerID       string
	IndustryID      string
	MutationTimeout time.Duration
	// Via is ledger.ViaGraphQL or ledger.ViaNATS; Mix the load's mix
	// ("lifecycle", "terminate", "hot", …).
	Via, Mix   string
	LedgerPath string
	Duration   time.Duration
	Seed       int64
	// Customers is how many customers the load's setup registers (0: the
	// mix's default), spread over the 16 command partitions.
	Customers int
	// Workers is how many workers send at once (closed model); 0: the
	// runner's default.
	Workers int
	// Republish publishes each command twice at once and once more after
	// its answer (NATS only).
	Republish bool
	// Measuring is called once when the load's measured phase starts
	// (its setup is over); the fault's moment counts from then.
	Measuring func(time.Time)
	// Until, when set, can make the load go on past Duration, until the
	// time it returns (asked again as the load goes on).
	Until func() time.Time
}

// loadCustomers is the setup's customers of the lifecycle and terminate
// mixes, one per command partition (the load draws them so), so each
// partition is measured after a crash; as many as the load's default
// pool (four workers, four customers each).
const loadCustomers = 16

// LoadFunc runs the load of spec; it returns when the load is over.
type LoadFunc func(ctx context.Context, spec LoadSpec) error

// The docs' partner and industry (deploy/seed.json), whose API key
// scripts/up.sh makes.
const (
	seedPartnerID  = "25521a6f-b8d1-414b-8575-545430f076fd"
	seedIndustryID = "e4c81004-1a4c-477f-97e3-b67022e9a351"
)

// Config configures a chaos run.
type Config struct {
	Stack     StackConfig
	Scenarios []Scenario
	// Seed makes the fault moments (and the load's choices) repeatable.
	Seed int64
	// Load is the load phase of each scenario; Hold how long a fault lasts.
	Load     LoadFunc
	Duration time.Duration
	Hold     time.Duration
	// Quiesce bounds the wait for the stack to settle after the load.
	Quiesce time.Duration
}

// Result is one scenario's outcome.
type Result struct {
	Name        string                `json:"name"`
	Description string                `json:"description"`
	FaultAfter  time.Duration         `json:"faultAfterNs"`
	FaultFor    time.Duration         `json:"faultForNs"`
	Counts      invariant.Counts      `json:"counts"`
	Violations  []invariant.Violation `json:"violations"`
	// LateAnswers counts answers that took longer than the mutation
	// timeout plus one second; Slowest is the slowest answer.
	LateAnswers int           `json:"lateAnswers"`
	Slowest     time.Duration `json:"slowestNs"`
	// Recovery is the time from the fault's end (the service ready again)
	// to the first mutation sent after it and answered APPLIED; -1 if none.
	Recovery time.Duration `json:"recoveryNs"`
	// Setup is how long the load's setup took (registering its
	// customers); Settle how long the stack took to become quiet after
	// the load; Took the whole scenario, check included.
	Setup  time.Duration `json:"setupNs"`
	Settle time.Duration `json:"settleNs"`
	Took   time.Duration `json:"tookNs"`
	// Partitions is, after a crash, each partition's time to apply again
	// (only the partitions that had commands to process).
	Partitions []Partition `json:"partitions,omitempty"`
	// Unaffected is, for a dependency's outage, the latency of the
	// commands that do not need it, before and during the fault.
	Unaffected *Unaffected `json:"unaffected,omitempty"`
	// ErrorWindow is the client-visible error window: from the first
	// answer that was not APPLIED or REJECTED (ERROR or TIMEOUT) to the
	// last one; 0 when there was none. Failed counts those answers.
	ErrorWindow time.Duration `json:"errorWindowNs"`
	Failed      int           `json:"failed"`
	Error       string        `json:"error,omitempty"`
}

// Passed reports whether the scenario broke nothing.
func (r *Result) Passed() bool {
	return r.Error == "" && len(r.Violations) == 0 && r.LateAnswers == 0
}

// Run runs every scenario of cfg against s, one after the other.
func Run(ctx context.Context, s *Stack, cfg Config, progress io.Writer) ([]*Result, error) {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x63686f73))
	ledgers := filepath.Join(cfg.Stack.Dir, "ledgers")
	if err := os.MkdirAll(ledgers, 0o700); err != nil {
		return nil, fmt.Errorf("ledger directory: %w", err)
	}
	var out []*Result
	for i, sc := range cfg.Scenarios {
		hold := cfg.Hold
		if sc.Hold > hold {
			hold = sc.Hold
		}
		// The fault starts between a fifth and half of the load.
		after := cfg.Duration/5 + time.Duration(rng.Int64N(int64(cfg.Duration*3/10)+1))
		_, _ = fmt.Fprintf(progress, "chaos: %s: fault after %s for %s\n", sc.Name, after.Round(time.Millisecond), hold)
		r := s.scenario(ctx, cfg, sc, filepath.Join(ledgers, sc.Name+".jsonl"), after, hold, cfg.Seed+int64(i))
		out = append(out, r)
		_, _ = fmt.Fprintf(progress, "chaos: %s: %s\n", sc.Name, verdict(r))
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}

func verdict(r *Result) string {
	took := fmt.Sprintf("in %s (setup %s, settle %s)", r.Took.Round(100*time.Millisecond), r.Setup.Round(100*time.Millisecond),
		r.Settle.Round(100*time.Millisecond))
	if r.Passed() {
		return "ok " + took
	}
	return fmt.Sprintf("FAILED %s (%d violations, %d late answers) %s", took, len(r.Violations), r.LateAnswers, r.Error)
}

func (s *Stack) loadSpec(cfg Config, sc Scenario, ledgerPath string, seed int64) LoadSpec {
	spec := LoadSpec{GraphQLURL: s.ep.GraphQL, APIKey: s.apiKey,
		NATSURL: s.ep.NATS, NATSPassword: s.secrets["TEXTKIT_NATS_PARTNER_PASSWORD"],
		PartnerID: seedPartnerID, IndustryID: seedIndustryID, MutationTimeout: cfg.Stack.MutationTimeout,
		Via: sc.Via, Mix: sc.Mix, LedgerPath: ledgerPath, Duration: cfg.Duration, Seed: seed, Republish: sc.Republish}
	if spec.Via == "" {
		spec.Via = ledger.ViaGraphQL
	}
	if spec.Mix == "" {
		spec.Mix = "lifecycle"
	}
	if spec.Mix == "lifecycle" || spec.Mix == "terminate" {
		spec.Customers = loadCustomers
	}
	return spec
}

// floodLoad is the nats-flood scenario's second load: the hot mix straight
// onto NATS, for the fault's hold, into the scenario's second ledger.
func (s *Stack) floodLoad(ctx context.Context) error {
	f := s.flood
	spec := s.loadSpec(f.cfg, Scenario{Via: ledger.ViaNATS, Mix: "hot"}, ledgerPathOf(f.main, floodLedger), f.seed+1)
	spec.Duration = f.hold
	return f.cfg.Load(ctx, spec)
}

// floodRun is what the flood scenarios' loads need of the scenario
// running them: main is its main ledger's path.
type floodRun struct {
	cfg  Config
	main string
	hold time.Duration
	seed int64
}

// phases are a scenario's moments: the load's measured phase began, the
// fault started, the fault ended (the service ready again).
type phases struct{ measured, faultStart, faultEnd time.Time }

// The second ledgers of a scenario, beside its main one: the floods' and
// the companion load's (ledgerPathOf names them).
const (
	floodLedger    = "flood"
	hotFloodLedger = "flood-hot"
	alsoLedger     = "also"
)

// secondLedgers are the second ledgers the checker reads with the main
// one, in this order.
var secondLedgers = []string{floodLedger, hotFloodLedger, alsoLedger}

// ledgerPathOf is the second ledger kind of the scenario whose main
// ledger is at main: <scenario>.<kind>.jsonl.
func ledgerPathOf(main, kind string) string {
	return strings.TrimSuffix(main, ".jsonl") + "." + kind + ".jsonl"
}

func (s *Stack) scenario(ctx context.Context, cfg Config, sc Scenario, ledgerPath string, after, hold time.Duration, seed int64) *Result {
	alsoPath := ledgerPathOf(ledgerPath, alsoLedger)
	s.flood = floodRun{cfg: cfg, main: ledgerPath, hold: hold, seed: seed}
	r := &Result{Name: sc.Name, Description: sc.Description, FaultAfter: after, FaultFor: hold, Recovery: -1}
	spec := s.loadSpec(cfg, sc, ledgerPath, seed)
	spec.Duration += hold + sc.Ending // the load goes on after the fault as long as before it
	// ... even when the fault took longer than sc.Ending to end: every
	// partition must be measured applying again after it.
	var stop loadStop
	spec.Until = stop.until
	var ph phases
	began := time.Now()
	defer func() { r.Took = time.Since(began) }()
	measuring := make(chan struct{})
	spec.Measuring = func(t time.Time) { ph.measured = t; close(measuring) }
	loadDone := make(chan error, 2)
	loads := 1
	go func() { loadDone <- cfg.Load(ctx, spec) }()
	if sc.Also != "" {
		// The companion load: the commands the main one lacks.
		also := s.loadSpec(cfg, Scenario{Mix: sc.Also}, alsoPath, seed+2)
		also.Duration, also.Until = spec.Duration, spec.Until
		loads++
		go func() { loadDone <- cfg.Load(ctx, also) }()
	}
	// The fault's moment counts from the end of the load's setup.
	if !loadGoesOn(loadDone, measuring, r) || !loadGoesOn(loadDone, afterCh(after), r) {
		return r
	}
	r.Setup = ph.measured.Sub(began)
	ph.faultStart = time.Now()
	stop.faultStarted()
	ph.faultEnd = s.fault(ctx, sc, hold, r)
	stop.faultEnded(ph.faultEnd, cfg.Duration-after)
	for range loads {
		if err := <-loadDone; err != nil {
			r.Error += fmt.Sprintf(" load: %v", err)
		}
	}
	start := time.Now()
	if err := s.quiesce(ctx, cfg.Quiesce); err != nil {
		r.Error += fmt.Sprintf(" quiesce: %v", err)
	}
	r.Settle = time.Since(start)
	s.check(ctx, r, sc, ledgerPath, ph)
	return r
}

// loadStop keeps a scenario's load going while its fault lasts, and
// after its end for as long as the load ran before the fault (at least
// the planned duration, whichever is later).
type loadStop struct {
	mu sync.Mutex
	// at is when the load may stop; zero: as planned.
	at time.Time
}

// faultStarted keeps the load going until faultEnded says otherwise.
func (l *loadStop) faultStarted() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = time.Now().Add(24 * time.Hour)
}

// faultEnded lets the load stop tail after end (as planned when the
// fault never started: end is zero).
func (l *loadStop) faultEnded(end time.Time, tail time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = time.Time{}
	if !end.IsZero() {
		l.at = end.Add(tail)
	}
}

func (l *loadStop) until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.at
}

// loadGoesOn waits for ch; it reports false (and the error in r) when the
// load ended first.
func loadGoesOn(loadDone <-chan error, ch <-chan struct{}, r *Result) bool {
	select {
	case err := <-loadDone:
		r.Error = fmt.Sprintf("load ended before the fault: %v", err)
		return false
	case <-ch:
		return true
	}
}

// afterCh is closed after d.
func afterCh(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	return ch
}

// fault injects sc's fault, holds it and ends it; it returns when the
// service concerned was ready again (zero if the fault failed to start).
func (s *Stack) fault(ctx context.Context, sc Scenario, hold time.Duration, r *Result) time.Time {
	end, err := sc.inject(ctx, s)
	if err != nil {
		r.Error = fmt.Sprintf("inject: %v", err)
		return time.Time{}
	}
	time.Sleep(hold)
	if err := end(ctx); err != nil {
		r.Error = fmt.Sprintf("end fault: %v", err)
	}
	return time.Now()
}

// quiesce waits until every service is ready, the command stream is
// empty (every command processed), retention has handled every event and
// no key destruction is overdue; then for retention's sweep.
func (s *Stack) quiesce(ctx context.Context, limit time.Duration) error {
	for _, name := range s.processNames() {
		if err := s.waitReady(ctx, name, limit); err != nil {
			return err
		}
	}
	js, closeJS, err := s.jetStream()
	if err != nil {
		return err
	}
	defer closeJS()
	deadline := time.Now().Add(limit)
	for {
		busy, err := s.busy(ctx, js)
		if err == nil && busy == "" {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("not quiet after %s: %w", limit, err)
			}
			return fmt.Errorf("not quiet after %s: %s", limit, busy)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // retention sweeps every second
	return nil
}

// busy says what is still in flight, "" when nothing is.
func (s *Stack) busy(ctx context.Context, js jetstream.JetStream) (string, error) {
	st, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		return "", err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.State.Msgs > 0 {
		return fmt.Sprintf("%d commands waiting in the command stream", info.State.Msgs), nil
	}
	c, err := js.Consumer(ctx, natsbus.EventStream, retention.ConsumerName)
	if err != nil {
		return "", err
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return "", err
	}
	if ci.NumPending+uint64(ci.NumAckPending) > 0 {
		return fmt.Sprintf("retention has %d events to handle", ci.NumPending+uint64(ci.NumAckPending)), nil
	}
	od, err := redisstore.New(s.rdb).KeyDestructionsOverdue(ctx, time.Now())
	if err != nil {
		return "", err
	}
	if od.Count > 0 {
		return fmt.Sprintf("%d key destructions overdue", od.Count), nil
	}
	return "", nil
}

func (s *Stack) jetStream() (jetstream.JetStream, func(), error) {
	nc, err := nats.Connect(s.ep.NATS,
		nats.UserInfo("provisioner", s.secrets["TEXTKIT_NATS_PROVISIONER_PASSWORD"]), nats.Timeout(2*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// Check runs the invariant checker on the ledger at ledgerPath against
// the stack's current state.
func (s *Stack) Check(ctx context.Context, ledgerPath string) (*invariant.Report, error) {
	h, recs, err := ledger.Read(ledgerPath)
	if err != nil {
		return nil, err
	}
	return s.checkRecords(ctx, h, recs)
}

func (s *Stack) checkRecords(ctx context.Context, h ledger.Header, recs []ledger.Record) (*invariant.Report, error) {
	js, closeJS, err := s.jetStream()
	if err != nil {
		return nil, err
	}
	defer closeJS()
	tokens, err := service.ReadEnvFile(s.cfg.VaultEnv)
	if err != nil {
		return nil, err
	}
	keys, err := vault.New(vault.Config{Addr: s.ep.Vault, Token: tokens["TEXTKIT_VAULT_TOKEN_RETENTION"]})
	if err != nil {
		return nil, err
	}
	src := &invariant.Live{Store: redisstore.New(s.rdb), Keys: keys, JetStream: js,
		Twilio: invariant.Emulator{URL: s.ep.Emulator, AccountSID: s.secrets["TEXTKIT_TWILIO_ACCOUNT_SID"], AuthToken: s.secrets["TEXTKIT_TWILIO_AUTH_TOKEN"]}}
	return invariant.Check(ctx, src, h, recs, invariant.Options{KeyGrace: 30 * time.Second})
}

// readLedgers reads the scenario's ledgers (main, and the flood's and
// the companion load's if they exist) as one run: the others' sequence
// numbers and workers are shifted past the main one's.
func readLedgers(main string) (ledger.Header, []ledger.Record, error) {
	h, recs, err := ledger.Read(main)
	if err != nil {
		return h, nil, err
	}
	for i, kind := range secondLedgers {
		path := ledgerPathOf(main, kind)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		_, more, err := ledger.Read(path)
		if err != nil {
			return h, nil, err
		}
		var last int64
		for _, rec := range recs {
			last = max(last, rec.Seq)
		}
		recs = append(recs, renumber(more, last, 1000*(i+1))...)
	}
	return h, recs, nil
}

// check reads the ledgers, runs the invariant checker and fills r.
func (s *Stack) check(ctx context.Context, r *Result, sc Scenario, ledgerPath string, ph phases) {
	h, recs, err := readLedgers(ledgerPath)
	if err != nil {
		r.Error += fmt.Sprintf(" ledger: %v", err)
		return
	}
	rep, err := s.checkRecords(ctx, h, recs)
	if err != nil {
		r.Error += fmt.Sprintf(" check: %v", err)
		return
	}
	r.Counts, r.Violations = rep.Counts, rep.Violations
	if ph.faultEnd.IsZero() {
		return // the fault never started: the error says why
	}
	if sc.Crash {
		s.checkPartitions(ctx, r, ph.faultEnd, recs)
	}
	if sc.Needs != "" {
		r.Unaffected = unaffected(sc.Needs, recs, ph.measured, ph.faultStart, ph.faultEnd, h.MutationTimeout.Duration)
	}
	if sc.Spared != "" {
		r.Unaffected = spared(sc.Spared, recs, ph.measured, ph.faultStart, ph.faultEnd, h.MutationTimeout.Duration)
	}
	if r.Unaffected != nil {
		if v, bad := r.Unaffected.violation(); bad {
			r.Violations = append(r.Violations, v)
		}
	}
	timings(r, h, recs, ph.faultEnd)
	errorWindow(r, recs)
}

// timings fills r's slowest and late answers and its recovery.
func timings(r *Result, h ledger.Header, recs []ledger.Record, faultEnd time.Time) {
	// A request with n mutations runs them one after the other: its
	// answer may take n mutation timeouts, plus the second of slack.
	perRequest := map[string]int{}
	for _, rec := range recs {
		perRequest[requestOf(rec)]++
	}
	for _, rec := range recs {
		took := rec.AnsweredAt.Sub(rec.SentAt)
		r.Slowest = max(r.Slowest, took)
		limit := time.Duration(perRequest[requestOf(rec)])*h.MutationTimeout.Duration + time.Second
		if h.MutationTimeout.Duration > 0 && took > limit {
			r.LateAnswers++
		}
		if !faultEnd.IsZero() && rec.Answer == ledger.Applied && !rec.SentAt.Before(faultEnd) {
			if d := rec.AnsweredAt.Sub(faultEnd); r.Recovery < 0 || d < r.Recovery {
				r.Recovery = d
			}
		}
	}
}

// requestOf names the request a ledger record was sent in: a joined
// GraphQL request's records share their worker and send time.
func requestOf(r ledger.Record) string {
	return fmt.Sprintf("%d/%s", r.Worker, r.SentAt.Format(time.RFC3339Nano))
}

// renumber shifts a second ledger's sequence numbers past the first's,
// and its workers by workers, so the checker sees one run.
func renumber(recs []ledger.Record, by int64, workers int) []ledger.Record {
	for i := range recs {
		recs[i].Seq += by
		recs[i].Worker += workers
	}
	return recs
}
