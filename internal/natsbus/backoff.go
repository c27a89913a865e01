package natsbus

import (
	"math/rand/v2"
	"time"
)

// Backoff is the redelivery delay after a transient failure: exponential
// from Base, capped at Max, with full jitter.
type Backoff struct {
	Base, Max time.Duration
}

// WaitTime is the wait before the retryNum-th handling again. It never
// gives up: a command is only ever finished by an outcome.
func (b Backoff) WaitTime(retryNum uint64) time.Duration {
	d := b.Base
	for i := uint64(1); i < retryNum && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	return d/2 + rand.N(d/2+1)
}
