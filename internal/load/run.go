package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/natsbus"
)

// Report is what a run measured. Only the measured phase is counted; the
// setup phase's commands are in the ledger but not here (SetupCommands).
type Report struct {
	StartedAt time.Time `json:"startedAt"`
	Target    string    `json:"target,omitempty"`
	Mix       string    `json:"mix"`
	Model     string    `json:"model,omitempty"`
	Rate      float64   `json:"rate,omitempty"`
	Workers   int       `json:"workers,omitempty"`
	// MeasuredFrom is when the measured phase began: ledger records
	// intended from then on are counted here.
	MeasuredFrom    time.Time `json:"measuredFrom"`
	MeasuredSeconds float64   `json:"measuredSeconds"`
	SetupCommands   int       `json:"setupCommands"`
	// Commands is how many commands the measured phase sent and had
	// answered (one per ledger record).
	Commands int `json:"commands"`
	// Throughput is commands answered per second of the measured phase.
	Throughput float64 `json:"throughput"`
	// Answers counts commands by answer (APPLIED, REJECTED, TIMEOUT, ERROR).
	Answers map[string]int `json:"answers"`
	// ErrorsByCode counts the commands not applied, by error code.
	ErrorsByCode map[string]int `json:"errorsByCode"`
	// Latency is from each command's intended send time to its answer.
	Latency  Latency  `json:"latency"`
	Timeline []Point  `json:"timeline"`
	Ceiling  *Ceiling `json:"ceiling,omitempty"`
	// CeilingRatio is Throughput / Ceiling.Throughput.
	CeilingRatio float64 `json:"ceilingRatio,omitempty"`
	// Resources is the stack's CPU and memory over the measured phase
	// (with Config.PidsDir).
	Resources *Resources `json:"resources,omitempty"`
	Ledger    string     `json:"ledger,omitempty"`
}

// Run runs a load test: the ceiling if configured, then the setup phase,
// then the measured phase for cfg.Duration (or until ctx ends). The
// ledger is written as it goes.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	rep := &Report{StartedAt: time.Now().UTC(), Mix: cfg.Mix}
	if cfg.Ceiling.Duration > 0 {
		c, err := MeasureCeiling(ctx, cfg.Ceiling)
		if err != nil {
			return nil, err
		}
		rep.Ceiling = c
	}
	if cfg.Mix == MixCeiling {
		return rep, nil
	}
	r, err := newRunner(&cfg, rep)
	if err != nil {
		return nil, err
	}
	err = r.run(ctx)
	if cerr := errors.Join(r.target.Close(), r.ledger.Close()); err == nil && cerr != nil {
		err = fmt.Errorf("load: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	if rep.Ceiling != nil && rep.Ceiling.Throughput > 0 {
		rep.CeilingRatio = rep.Throughput / rep.Ceiling.Throughput
	}
	return rep, nil
}

// runner is one run's state.
type runner struct {
	cfg    *Config
	rep    *Report
	target Target
	ledger *ledger.Writer
	seq    atomic.Int64
	setupN atomic.Int64
	rec    *recorder
	seed   uint64

	errOnce sync.Once
	err     error
	stop    context.CancelFunc
}

func newRunner(cfg *Config, rep *Report) (*runner, error) {
	r := &runner{cfg: cfg, rep: rep, seed: uint64(cfg.Seed)}
	if cfg.Seed == 0 {
		r.seed = uint64(time.Now().UnixNano())
	}
	rep.Target, rep.Model, rep.Workers, rep.Ledger = cfg.Target, cfg.Model, cfg.Workers, cfg.LedgerPath
	if cfg.Model == Open {
		rep.Rate = cfg.Rate
	}
	var err error
	switch cfg.Target {
	case ledger.ViaNATS:
		r.target, err = newNATSTarget(cfg)
	default:
		r.target = newGraphQLTarget(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	r.ledger, err = ledger.Open(cfg.LedgerPath, ledger.Header{
		StartedAt: rep.StartedAt, Target: cfg.Target, Mix: cfg.Mix, PartnerID: cfg.PartnerID,
		MutationTimeout: ledger.Duration{Duration: cfg.MutationTimeout},
	})
	if err != nil {
		_ = r.target.Close() // the ledger error is the one to report
		return nil, fmt.Errorf("load: %w", err)
	}
	return r, nil
}

// fail records the first error and stops the run.
func (r *runner) fail(err error) {
	r.errOnce.Do(func() {
		r.err = err
		r.stop()
	})
}

func (r *runner) run(ctx context.Context) error {
	ctx, r.stop = context.WithCancel(ctx)
	defer r.stop()
	workers, hot := r.setup(ctx)
	r.rep.SetupCommands = int(r.setupN.Load())
	if r.err != nil {
		return r.err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("load: setup interrupted: %w", ctx.Err())
	}
	m := newMix(r.cfg.Mix, r.cfg.ExactVersions, hot)
	start := time.Now()
	r.rep.MeasuredFrom = start.UTC()
	r.rec = newRecorder(start)
	if r.cfg.Measuring != nil {
		r.cfg.Measuring(start)
	}
	var smp *sampler
	if r.cfg.PidsDir != "" {
		var err error
		if smp, err = startSampler(r.cfg.procDir(), r.cfg.PidsDir); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	stopProgress := r.progress(ctx)
	if r.cfg.Model == Open {
		r.open(ctx, m, workers, start)
	} else {
		r.closed(ctx, m, workers, start.Add(r.cfg.Duration))
	}
	stopProgress()
	r.rec.fill(r.rep, time.Now())
	if smp != nil {
		res, err := smp.stop(r.rep.Commands)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		r.rep.Resources = res
	}
	return r.err
}

// progress writes a progress line every interval until the returned func
// is called.
func (r *runner) progress(ctx context.Context) func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				r.rec.progress(r.cfg.Progress, now)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		r.rec.progress(r.cfg.Progress, time.Now())
	}
}

// send sends a step and writes every op's answer to the ledger (and, when
// measured, to the recorder); it returns the results.
func (r *runner) send(ctx context.Context, w *worker, step Step) []Result {
	seqs := make([]int64, len(step.Ops))
	for i := range seqs {
		seqs[i] = r.seq.Add(1)
	}
	res := r.target.Send(ctx, step)
	for i, op := range step.Ops {
		rec := record(r.target.Name(), r.cfg.PartnerID, w.id, seqs[i], op, res[i], step.IntendedAt)
		if err := r.ledger.Append(rec); err != nil {
			r.fail(fmt.Errorf("load: %w", err))
		}
		if step.Measured {
			r.rec.add(&rec)
		} else {
			r.setupN.Add(1)
		}
		if again := res[i].Again; again != nil {
			// The same command published again: a ledger record of
			// its own (a retry), not a command of the mix.
			rec := record(r.target.Name(), r.cfg.PartnerID, w.id, r.seq.Add(1), op, *again, time.Time{})
			if err := r.ledger.Append(rec); err != nil {
				r.fail(fmt.Errorf("load: %w", err))
			}
		}
	}
	return res
}

// record is the ledger record of one op's answer.
func record(via, partnerID string, workerID int, seq int64, op Op, res Result, intended time.Time) ledger.Record {
	if intended.IsZero() {
		intended = res.SentAt
	}
	return ledger.Record{
		Seq: seq, Worker: workerID, Via: via, CustomerID: op.CustomerID, PartnerID: partnerID,
		Type: op.Type, CommandID: res.CommandID, IdempotencyKey: res.IdempotencyKey, Field: res.Field,
		ExpectedVersion: op.ExpectedVersion, Retention: op.Retention, DestroyAt: res.DestroyAt,
		IntendedAt: intended.UTC(), SentAt: res.SentAt.UTC(), AnsweredAt: res.AnsweredAt.UTC(),
		Answer: res.Answer, Code: res.Code, Retryable: res.Retryable, Message: res.Message,
		CustomerVersion: res.CustomerVersion, Ordered: op.Ordered,
	}
}

// setupCustomer is the setup's i-th customer: in partition i mod 16 with
// SpreadPartitions.
func (r *runner) setupCustomer(i int) *cust {
	for {
		c := newCustomer()
		if !r.cfg.SpreadPartitions || natsbus.PartitionOf(c.id) == i%natsbus.Partitions {
			return c
		}
	}
}

// newWorkers makes the workers, each with its own random source.
func (r *runner) newWorkers() []*worker {
	ws := make([]*worker, r.cfg.concurrency())
	for i := range ws {
		ws[i] = &worker{id: i, rng: rand.New(rand.NewPCG(r.seed, uint64(i)))}
	}
	return ws
}

// setup registers (and, except for the register mix, activates) the
// customer pool, each customer by the worker that will own it, and
// returns the workers. The hot mix's customers are shared.
func (r *runner) setup(ctx context.Context) (ws []*worker, hot []*cust) {
	ws = r.newWorkers()
	n := r.cfg.customers()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for i := w.id; i < n && ctx.Err() == nil; i += len(ws) {
				c := r.setupCustomer(i)
				r.setupOne(ctx, w, c)
				if c.status == stTerminated {
					continue // its registration failed
				}
				if r.cfg.Mix == MixHot {
					mu.Lock()
					hot = append(hot, c)
					mu.Unlock()
				} else {
					w.own = append(w.own, c)
				}
			}
		})
	}
	wg.Wait()
	if r.cfg.Mix == MixHot && len(hot) == 0 && r.err == nil && ctx.Err() == nil {
		r.fail(errors.New("load: setup registered none of the hot customers; see the ledger"))
	}
	return ws, hot
}

// setupOne registers c and activates it, each answer learnt.
func (r *runner) setupOne(ctx context.Context, w *worker, c *cust) {
	step := Step{Ops: []Op{registerOp(c)}}
	learn(step, []*cust{c}, r.sendSetup(ctx, w, step))
	if c.status != stRegistered || r.cfg.Mix == MixRegister {
		return
	}
	step = Step{Ops: []Op{{Type: ledger.Activate, CustomerID: c.id, Ordered: true}}}
	learn(step, []*cust{c}, r.sendSetup(ctx, w, step))
}

// setupAttempts bounds how often a setup step is sent again after an
// error that says it was not applied and may pass (RATE_LIMITED,
// UNAVAILABLE, a refused connection): the pool should be complete before
// the measured phase. Every attempt is in the ledger.
const setupAttempts = 10

func (r *runner) sendSetup(ctx context.Context, w *worker, step Step) []Result {
	for attempt := 1; ; attempt++ {
		res := r.send(ctx, w, step)
		if attempt == setupAttempts || res[0].Answer != ledger.Error || !res[0].Retryable {
			return res
		}
		select {
		case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
		case <-ctx.Done():
			return res
		}
	}
}

// closed runs every worker back to back until the deadline.
func (r *runner) closed(ctx context.Context, m mix, ws []*worker, deadline time.Time) {
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for ctx.Err() == nil && r.before(deadline) {
				r.step(ctx, m, w, time.Time{})
			}
		})
	}
	wg.Wait()
}

// end is when the measured phase ends: planned (its start plus
// Duration), or later if Config.Until says so.
func (r *runner) end(planned time.Time) time.Time {
	if r.cfg.Until != nil {
		if u := r.cfg.Until(); u.After(planned) {
			return u
		}
	}
	return planned
}

// before says whether the measured phase planned to end at planned goes on.
func (r *runner) before(planned time.Time) bool { return time.Now().Before(r.end(planned)) }

// step sends the worker's next measured step.
func (r *runner) step(ctx context.Context, m mix, w *worker, intended time.Time) {
	step, custs := m.next(w)
	step.Measured, step.IntendedAt = true, intended
	learn(step, custs, r.send(ctx, w, step))
}

// open sends steps at cfg.Rate per second for cfg.Duration: a dispatcher
// hands each step's intended time to the workers in turn; a busy worker
// queues it, and its latency still counts from the intended time.
func (r *runner) open(ctx context.Context, m mix, ws []*worker, start time.Time) {
	queues := make([]chan time.Time, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		queues[i] = make(chan time.Time, 4096)
		wg.Go(func() {
			for intended := range queues[i] {
				if ctx.Err() == nil {
					r.step(ctx, m, w, intended)
				}
			}
		})
	}
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	end := start.Add(r.cfg.Duration)
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(r.end(end)) {
			break
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		queues[i%len(queues)] <- at
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
}
