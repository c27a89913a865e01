package chaos

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/textkit/customers/internal/invariant"
	"github.com/textkit/customers/internal/ledger"
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

// Unaffected is the latency of the commands that do not need the
// dependency a scenario takes out, before and during its fault.
type Unaffected struct {
	Dependency string        `json:"dependency"`
	Types      []ledger.Type `json:"types"`
	Before     Percentile    `json:"before"`
	During     Percentile    `json:"during"`
	Bound      time.Duration `json:"boundNs"`
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
	perRequest := map[string]int{}
	for _, r := range recs {
		perRequest[requestOf(r)]++
	}
	var before, during []time.Duration
	for _, r := range recs {
		if !slices.Contains(u.Types, r.Type) || perRequest[requestOf(r)] != 1 || r.Answer == ledger.Error {
			continue
		}
		took := r.AnsweredAt.Sub(r.IntendedAt)
		switch {
		case r.IntendedAt.Before(measured):
		case r.IntendedAt.Before(faultStart):
			before = append(before, took)
		case r.IntendedAt.Before(faultEnd):
			during = append(during, took)
		}
	}
	u.Before, u.During = p99(before), p99(during)
	u.Bound = UnaffectedBound(u.Before.P99, mutationTimeout)
	return u
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
	if u.During.N == 0 || u.During.P99 <= u.Bound {
		return invariant.Violation{}, false
	}
	return invariant.Violation{Kind: invariant.UnaffectedSlow, Detail: fmt.Sprintf(
		"%s out: the %d commands that do not need it (%v) answered in %s at p99, bound %s (p99 before: %s over %d)",
		u.Dependency, u.During.N, u.Types, u.During, u.Bound, u.Before, u.Before.N)}, true
}

// column is the report's "unaffected p99" column: before → during.
func (u *Unaffected) column() string {
	if u == nil {
		return "-"
	}
	return u.Before.String() + "→" + u.During.String()
}
