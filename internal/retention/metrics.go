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

// Metrics of what is left to do, set from Redis after every sweep: every
// replica reports the same schedule, so alerts take their max.
var (
	destructionsOverdue = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "textkit_retention_destructions_overdue",
		Help: "Key destructions past their due time and not done (failing, postponed, in progress or unreadable), as of the last sweep.",
	})
	oldestOverdueSeconds = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "textkit_retention_destructions_overdue_oldest_seconds",
		Help: "How long the longest-overdue key destruction has been due, in seconds, as of the last sweep; 0 when none is overdue.",
	})
	lastSweepSuccess = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "textkit_retention_sweep_last_success_timestamp_seconds",
		Help: "When a sweep last finished without a transient failure (Unix seconds).",
	})
	unreadableRecords = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "textkit_retention_unreadable_records_total",
		Help: "Records retention could not read and therefore left alone (never destroying a key on them), each time one was met, by source (key_record, schedule_entry, event).",
	}, []string{"source"})
)

// Sources of unreadable records.
const (
	sourceKeyRecord     = "key_record"
	sourceScheduleEntry = "schedule_entry"
	sourceEvent         = "event"
)

func init() {
	// Every series exists from the start, so that increase() sees the
	// first one.
	for _, s := range []string{sourceKeyRecord, sourceScheduleEntry, sourceEvent} {
		unreadableRecords.WithLabelValues(s)
	}
}
