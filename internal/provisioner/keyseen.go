package provisioner

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// keysSeenMax bounds the customers whose key this process remembers
// (about 100 bytes each); past it the memory starts again empty.
const keysSeenMax = 1 << 16

var keyChecksTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "textkit_provisioner_key_checks_total",
	Help: "Checks that a customer's key exists before an activation, by source: vault (asked) or remembered (seen to exist by this process before).",
}, []string{"source"})

// keysSeen remembers the customers whose Vault key this process has seen
// exist, so an activation does not ask Vault again what it already
// learned. Remembering is safe without expiry: a key is destroyed only
// after its customer's termination, a terminated customer is never
// activated again (the domain refuses it before the key is checked), and
// customer ids are never reused.
type keysSeen struct {
	mu   sync.Mutex
	seen map[string]struct{}
	max  int
}

func newKeysSeen(max int) *keysSeen {
	return &keysSeen{seen: make(map[string]struct{}), max: max}
}

func (k *keysSeen) has(customerID string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.seen[customerID]
	return ok
}

func (k *keysSeen) add(customerID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.seen) >= k.max {
		clear(k.seen)
	}
	k.seen[customerID] = struct{}{}
}
