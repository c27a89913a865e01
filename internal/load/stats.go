package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/textkit/customers/internal/ledger"
)

// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with 3
// significant digits.
const (
	minLatencyUS = 1
	maxLatencyUS = int64(10 * time.Minute / time.Microsecond)
	sigFigs      = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatencyUS, maxLatencyUS, sigFigs)
}

// recorder collects the measured phase's answers.
type recorder struct {
	mu      sync.Mutex
	start   time.Time
	all     *hdrhistogram.Histogram
	seconds []*second
	answers map[ledger.Answer]int
	codes   map[string]int
	n       int
	// since the last progress line
	lastN int
	lastT time.Time
}

// second is one second of the measured phase, by answer time.
type second struct {
	hist           *hdrhistogram.Histogram
	commands, errs int
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, lastT: start, all: newHist(), answers: map[ledger.Answer]int{}, codes: map[string]int{}}
}

// add records one answered command.
func (r *recorder) add(rec *ledger.Record) {
	us := max(min(rec.Latency().Microseconds(), maxLatencyUS), minLatencyUS)
	i := max(int(rec.AnsweredAt.Sub(r.start)/time.Second), 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, &second{hist: newHist()})
	}
	s := r.seconds[i]
	// values are clamped into the histogram's range above, so these
	// cannot fail
	_ = r.all.RecordValue(us)
	_ = s.hist.RecordValue(us)
	s.commands++
	r.n++
	r.answers[rec.Answer]++
	if rec.Answer != ledger.Applied {
		s.errs++
		r.codes[rec.Code]++
	}
}

// progress writes one line: elapsed, commands, rate since the last line,
// errors, p99 so far.
func (r *recorder) progress(w io.Writer, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rate := float64(r.n-r.lastN) / max(now.Sub(r.lastT).Seconds(), 1e-9)
	r.lastN, r.lastT = r.n, now
	errs := r.n - r.answers[ledger.Applied]
	// a progress line for the terminal: a failed write has nowhere to go
	_, _ = fmt.Fprintf(w, "load: %5.0fs  %7d commands  %8.1f/s  %6d errors  p99 %s\n",
		now.Sub(r.start).Seconds(), r.n, rate, errs, ms(r.all.ValueAtQuantile(99)))
}

// ms formats microseconds as milliseconds.
func ms(us int64) string { return fmt.Sprintf("%.1fms", float64(us)/1000) }

// Latency is a latency distribution, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	f := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(), Mean: h.Mean() / 1000,
		P50: f(h.ValueAtQuantile(50)), P90: f(h.ValueAtQuantile(90)), P99: f(h.ValueAtQuantile(99)),
		P999: f(h.ValueAtQuantile(99.9)), Max: f(h.Max()),
	}
}

// Point is one second of the measured phase: commands answered in it, how
// many were not applied, and their latency.
type Point struct {
	Second   int     `json:"second"`
	Commands int     `json:"commands"`
	Errors   int     `json:"errors"`
	P50      float64 `json:"p50"`
	P90      float64 `json:"p90"`
	P99      float64 `json:"p99"`
	Max      float64 `json:"max"`
}

// fill writes the measured counts into rep.
func (r *recorder) fill(rep *Report, end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Commands = r.n
	elapsed := end.Sub(r.start)
	rep.MeasuredSeconds = elapsed.Seconds()
	if elapsed > 0 {
		rep.Throughput = float64(r.n) / elapsed.Seconds()
	}
	rep.Answers = map[string]int{}
	for _, a := range ledger.Answers {
		rep.Answers[string(a)] = r.answers[a]
	}
	rep.ErrorsByCode = maps.Clone(r.codes)
	rep.Latency = latencyOf(r.all)
	rep.Timeline = make([]Point, 0, len(r.seconds))
	for i, s := range r.seconds {
		l := latencyOf(s.hist)
		rep.Timeline = append(rep.Timeline, Point{Second: i, Commands: s.commands, Errors: s.errs, P50: l.P50, P90: l.P90, P99: l.P99, Max: l.Max})
	}
}

// codes returns the error codes of rep, most frequent first.
func (rep *Report) codes() []string {
	cs := slices.Collect(maps.Keys(rep.ErrorsByCode))
	slices.SortFunc(cs, func(a, b string) int {
		if d := rep.ErrorsByCode[b] - rep.ErrorsByCode[a]; d != 0 {
			return d
		}
		if a < b {
			return -1
		}
		return 1
	})
	return cs
}
