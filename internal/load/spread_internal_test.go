package load

import (
	"testing"

	"github.com/textkit/customers/internal/natsbus"
)

func TestSpreadPartitionsDrawsTheSetupsCustomersInEveryPartition(t *testing.T) {
	r := &runner{cfg: &Config{SpreadPartitions: true}}
	seen := map[int]bool{}
	for i := range 2 * natsbus.Partitions {
		c := r.setupCustomer(i)
		if p := natsbus.PartitionOf(c.id); p != i%natsbus.Partitions {
			t.Fatalf("customer %d (%s) is in partition %d, want %d", i, c.id, p, i%natsbus.Partitions)
		}
		seen[natsbus.PartitionOf(c.id)] = true
	}
	if len(seen) != natsbus.Partitions {
		t.Fatalf("customers in %d partitions, want %d", len(seen), natsbus.Partitions)
	}
}
