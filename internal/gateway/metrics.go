package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/textkit/customers/internal/command"
)

var (
	mutationsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "textkit_gateway_commands_total",
		Help: "Commands sent by mutations, by type and result (applied, rejected, timeout, cancelled, unpublished: the publish failed or was not acknowledged, and the command was settled as rejected).",
	}, []string{"type", "result"})
	mutationSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "textkit_gateway_command_seconds",
		Help:    "Time from publishing a command to its outcome.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"type"})
)

func observeMutation(t command.Type, result string, d time.Duration) {
	mutationsTotal.WithLabelValues(string(t), result).Inc()
	mutationSeconds.WithLabelValues(string(t)).Observe(d.Seconds())
}
