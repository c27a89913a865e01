package retention

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics. Counters move once per key and state (the key record's atomic
// transitions decide), however many replicas or redeliveries were involved.
var (
	keysCreated = promauto.NewCounter(prometheus.CounterOpts{
		Name: "textkit_retention_keys_created_total",
		Help: "Customer keys created and recorded ACTIVE.",
	})
	keysScheduled = promauto.NewCounter(prometheus.CounterOpts{
		Name: "textkit_retention_keys_scheduled_total",
		Help: "Customer keys scheduled for destruction (at termination, including NO_RETENTION's immediate destruction).",
	})
	keysDestroyed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "textkit_retention_keys_destroyed_total",
		Help: "Customer keys destroyed in Vault and recorded DESTROYED.",
	})
	sweepErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "textkit_retention_sweep_errors_total",
		Help: "Failed destructions and schedule reads, by kind (transient: retried with backoff; permanent: postponed).",
	}, []string{"kind"})
	eventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "textkit_retention_events_total",
		Help: "Customer events handled, by type and result (done, retry, invalid, ignored).",
	}, []string{"type", "result"})
)
