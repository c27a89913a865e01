package provisioner

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/textkit/customers/internal/command"
)

var (
	commandsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "textkit_provisioner_commands_total",
		Help: "Commands handled, by type and result (finished or retry).",
	}, []string{"type", "result"})
	commandSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "textkit_provisioner_command_seconds",
		Help:    "Time to handle one command delivery.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"type"})
)

func observe(t command.Type, err error, d time.Duration) {
	result := "finished"
	if err != nil {
		result = "retry"
	}
	typ := string(t)
	if !t.Known() {
		typ = "invalid"
	}
	commandsTotal.WithLabelValues(typ, result).Inc()
	if d > 0 {
		commandSeconds.WithLabelValues(typ).Observe(d.Seconds())
	}
}
