package provisioner

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
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
	rejectionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "textkit_provisioner_rejections_total",
		Help: "Commands rejected, by type (invalid: not a valid command) and the code of their first error.",
	}, []string{"type", "code"})
	deadLettersTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "textkit_provisioner_dead_letters_total",
		Help: "Messages rejected as not valid commands and recorded in the dead-letter stream (CUSTOMER_DLQ).",
	})
)

// observeRejection counts a rejected command's outcome.
func observeRejection(out *command.Outcome) {
	typ := string(out.Type)
	if !out.Type.Known() {
		typ = "invalid"
	}
	code := string(customer.CodeInternal)
	if len(out.Errors) > 0 {
		code = string(out.Errors[0].Code)
	}
	rejectionsTotal.WithLabelValues(typ, code).Inc()
}

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
