package chaos

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/textkit/customers/internal/invariant"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/natsbus"
)

// needs lists, per dependency, the command types whose handling calls it
// (read from the gateway and the provisioner, not assumed):
//   - Vault: the gateway seals contact info with the customer's key
//     before publishing (gateway.seal), the provisioner seals a direct
//     publisher's plaintext (provisioner.seal) and checks the key exists
//     before an activation (provisioner.awaitKey). Registration,
//     deactivation and termination call no Vault (retention creates and
//     destroys keys from the events, on its own).
//   - the Twilio emulator: registration creates the sub-account,
//     deactivation suspends it, activation reopens it, termination closes
//     it; a contact info update calls no Twilio.
var needs = map[string][]ledger.Type{
	"vault":           {ledger.Activate, ledger.UpdateContactInfo},
	"twilio-emulator": {ledger.Register, ledger.Activate, ledger.Deactivate, ledger.Terminate},
}

// UnaffectedBound is how slow the commands that do not need a dependency
// may be while it is out, at the 99th percentile: no slower than twice
// their p99 before the fault, and never above one second (a demanding
// user notices neither), whatever the machine's own pace; the mutation
// timeout is the hard ceiling.
func UnaffectedBound(before, mutationTimeout time.Duration) time.Duration {
	return min(max(time.Second, 2*before), mutationTimeout)
}

// MinUnaffected is how many unaffected commands there must be before and
// during the fault for their p99 to be judged: fewer make the p99 the
// slowest of a handful, the noise of a busy machine (the short
// scenarios' 2 s faults rarely have that many; the long run's do).
const MinUnaffected = 50

// Unaffected is the latency of the commands that do not need the
// dependency a scenario takes out, before and during its fault; or, in
// partner-flood, of the commands of the partner that is not flooding.
type Unaffected struct {
	Dependency string `json:"dependency,omitempty"`
	// Partner is, in partner-flood, the partner whose commands are
	// measured (every type), while another floods.
	Partner string        `json:"partner,omitempty"`
	Types   []ledger.Type `json:"types"`
	Before  Percentile    `json:"before"`
	During  Percentile    `json:"during"`
	Bound   time.Duration `json:"boundNs"`
	// TimedOut counts the commands of During answered TIMEOUT (not
	// answered within the mutation timeout).
	TimedOut int `json:"timedOut"`
	// HotTimedOut counts, for a partner spared a flood, its commands sent
	// during the flood and answered TIMEOUT in a partition of the flood's
	// hot customers, where a hot customer's backlog held the partition
	// before the per-customer cap: a violation however few commands
	// there are. A TIMEOUT elsewhere is the whole machine's slowness
	// (the suite's runs saturate it), judged by the p99 bound only.
	HotTimedOut int `json:"hotTimedOut"`
}

// Percentile is a count of answers and their 99th percentile latency
// (from the intended send time to the answer).
type Percentile struct {
	N   int           `json:"n"`
	P99 time.Duration `json:"p99Ns"`
}

func (p Percentile) String() string {
	if p.N == 0 {
		return "-"
	}
	return p.P99.Round(time.Millisecond).String()
}

// unaffected measures the commands of recs that do not need dep, sent in
// a request of their own (a joined request waits for all of its fields),
// before the fault (from measured on) and during it.
func unaffected(dep string, recs []ledger.Record, measured, faultStart, faultEnd time.Time, mutationTimeout time.Duration) *Unaffected {
	u := &Unaffected{Dependency: dep}
	for _, t := range ledger.Types {
		if !slices.Contains(needs[dep], t) {
			u.Types = append(u.Types, t)
		}
	}
	u.measure(recs, func(ledger.Record) bool { return true }, measured, faultStart, faultEnd, mutationTimeout)
	return u
}

// spared measures the commands of partner (every type), sent in a request
// of their own, before the fault (another partner's flood) and during it.
func spared(partner string, recs []ledger.Record, measured, faultStart, faultEnd time.Time, mutationTimeout time.Duration) *Unaffected {
	u := &Unaffected{Partner: partner, Types: ledger.Types}
	u.measure(recs, func(r ledger.Record) bool { return r.PartnerID == partner }, measured, faultStart, faultEnd, mutationTimeout)
	hot := map[int]bool{} // the partitions of the flood's hot customers (sent unordered)
	for _, r := range recs {
		if r.PartnerID != partner && !r.Ordered && r.CustomerID != "" {
			hot[natsbus.PartitionOf(r.CustomerID)] = true
		}
	}
	for _, r := range recs {
		if r.PartnerID == partner && r.Answer == ledger.Timeout && !r.IntendedAt.Before(faultStart) && r.IntendedAt.Before(faultEnd) &&
			hot[natsbus.PartitionOf(r.CustomerID)] {
			u.HotTimedOut++
		}
	}
	return u
}

// measure fills u's percentiles from the records of u.Types that keep
// selects, and its bound.
func (u *Unaffected) measure(recs []ledger.Record, keep func(ledger.Record) bool, measured, faultStart, faultEnd time.Time, mutationTimeout time.Duration) {
	perRequest := map[string]int{}
	for _, r := range recs {
		perRequest[requestOf(r)]++
	}
	var before, during []time.Duration
	for _, r := range recs {
		if !keep(r) || !slices.Contains(u.Types, r.Type) || perRequest[requestOf(r)] != 1 || r.Answer == ledger.Error {
			continue
		}
		took := r.AnsweredAt.Sub(r.IntendedAt)
		switch {
		case r.IntendedAt.Before(measured):
		case r.IntendedAt.Before(faultStart):
			before = append(before, took)
		case r.IntendedAt.Before(faultEnd):
			during = append(during, took)
			if r.Answer == ledger.Timeout {
				u.TimedOut++
			}
		}
	}
	u.Before, u.During = p99(before), p99(during)
	u.Bound = UnaffectedBound(u.Before.P99, mutationTimeout)
}

// p99 is the 99th percentile of ds (nearest rank).
func p99(ds []time.Duration) Percentile {
	if len(ds) == 0 {
		return Percentile{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	rank := (len(ds)*99 + 99) / 100 // ceil(0.99 n)
	return Percentile{N: len(ds), P99: ds[rank-1]}
}

// violation reports the unaffected commands too slow during the fault.
func (u *Unaffected) violation() (invariant.Violation, bool) {
	what := fmt.Sprintf("%s out: the %d commands that do not need it (%v)", u.Dependency, u.During.N, u.Types)
	if u.Partner != "" {
		what = fmt.Sprintf("another partner flooding: the %d commands of partner %s", u.During.N, u.Partner)
		if u.HotTimedOut > 0 {
			return invariant.Violation{Kind: invariant.UnaffectedSlow, Detail: fmt.Sprintf(
				"%s: %d in the hot customers' partitions not answered within the mutation timeout (TIMEOUT)", what, u.HotTimedOut)}, true
		}
	}
	if !u.judged() || u.During.P99 <= u.Bound {
		return invariant.Violation{}, false
	}
	return invariant.Violation{Kind: invariant.UnaffectedSlow, Detail: fmt.Sprintf(
		"%s answered in %s at p99, bound %s (p99 before: %s over %d)", what, u.During, u.Bound, u.Before, u.Before.N)}, true
}

// judged reports whether there are enough commands to judge the p99.
func (u *Unaffected) judged() bool { return u.Before.N >= MinUnaffected && u.During.N >= MinUnaffected }

// column is the report's "unaffected p99" column: before → during.
func (u *Unaffected) column() string {
	if u == nil {
		return "-"
	}
	col := u.Before.String() + "→" + u.During.String()
	if u.TimedOut > 0 {
		col += fmt.Sprintf(" (%d TIMEOUT)", u.TimedOut)
	}
	if !u.judged() {
		col += fmt.Sprintf(" (n=%d, not judged)", u.During.N)
	}
	return col
}
