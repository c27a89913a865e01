package main

import (
	"context"

	"github.com/textkit/customers/internal/chaos"
	"github.com/textkit/customers/internal/load"
)

// loadWorkers is each scenario's number of load workers (closed model):
// enough to keep every partition busy on a small machine.
const loadWorkers = 4

// runLoad is each scenario's load: internal/load, closed model.
func runLoad(ctx context.Context, spec chaos.LoadSpec) error {
	workers := spec.Workers
	if workers == 0 {
		workers = loadWorkers
	}
	_, err := load.Run(ctx, load.Config{
		Target: spec.Via, Mix: spec.Mix, Model: load.Closed, Workers: workers, Duration: spec.Duration,
		GraphQLURL: spec.GraphQLURL, APIKey: spec.APIKey, NATSURL: spec.NATSURL, NATSPassword: spec.NATSPassword,
		PartnerID: spec.PartnerID, IndustryID: spec.IndustryID, MutationTimeout: spec.MutationTimeout,
		LedgerPath: spec.LedgerPath, Seed: spec.Seed, Customers: spec.Customers, SpreadPartitions: spec.Customers > 0, Measuring: spec.Measuring, Until: spec.Until,
		Republish: spec.Republish,
	})
	return err
}
