package chaos

import (
	"context"
	"errors"

	"github.com/textkit/customers/internal/ledger"
)

// floodPartnerID is the seed's second partner (deploy/seed.json): in
// partner-flood it floods commands straight onto NATS, as its own user
// (partner-7d3c9a52, its own account in deploy/nats/nats.conf), while the
// docs' partner runs the GraphQL load.
const floodPartnerID = "7d3c9a52-5c1e-4d4f-9a38-2f3a1b0c9d11"

// partnerFlood is one of the flooding partner's loads, each into a ledger
// of its own.
type partnerFlood struct {
	ledger    string
	mix       string
	workers   int
	customers int
}

// partnerFloods are the flooding partner's loads, run together for the
// fault's hold (after their setup): commands for many customers at once
// (the lifecycle mix, four customers in each partition), and many
// commands for a few hot ones (the hot mix: two customers, in partitions
// 0 and 1, more workers on them than a partition's consumer may hold
// unacknowledged, natsbus.PartitionMaxAckPending).
var partnerFloods = []partnerFlood{
	{ledger: floodLedger, mix: "lifecycle", workers: 64, customers: 64},
	{ledger: hotFloodLedger, mix: "hot", workers: 512, customers: 2},
}

// partnerFloodScenario: a second partner floods NATS while the docs'
// partner uses GraphQL; the docs' partner's latency must stay within
// UnaffectedBound, and both partners' ledgers are checked.
func partnerFloodScenario() Scenario {
	return Scenario{
		Name: "partner-flood",
		Description: "while the docs' partner runs its GraphQL load, a second partner floods commands straight onto NATS as its own user " +
			"(many customers at once, and hundreds of commands in flight on two hot ones); both ledgers checked, the first partner's p99 bounded",
		Spared: seedPartnerID,
		inject: func(ctx context.Context, s *Stack) (func(context.Context) error, error) {
			done := make(chan error, 1)
			go func() { done <- s.partnerFloodLoad(ctx) }()
			return func(context.Context) error { return <-done }, nil
		},
	}
}

// partnerFloodLoad runs partnerFloods at once, as the flooding partner
// over NATS, each for the fault's hold, into the scenario's second ledgers.
func (s *Stack) partnerFloodLoad(ctx context.Context) error {
	f := s.flood
	errs := make(chan error, len(partnerFloods))
	for i, pf := range partnerFloods {
		spec := s.loadSpec(f.cfg, Scenario{Via: ledger.ViaNATS, Mix: pf.mix}, ledgerPathOf(f.main, pf.ledger), f.seed+10+int64(i))
		spec.PartnerID, spec.NATSPassword = floodPartnerID, s.secrets["TEXTKIT_NATS_PARTNER2_PASSWORD"]
		spec.Workers, spec.Customers, spec.Duration = pf.workers, pf.customers, f.hold
		go func() { errs <- f.cfg.Load(ctx, spec) }()
	}
	var all []error
	for range partnerFloods {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}
