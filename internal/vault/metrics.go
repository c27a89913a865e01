package vault

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/textkit/customers/internal/failure"
)

var callErrors = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "textkit_vault_errors_total",
	Help: "Vault calls that failed, by kind (transient: Vault unavailable or timing out, retried; permanent: refused, a missing key, an answer not from Vault).",
}, []string{"kind"})

func init() {
	// Both series exist from the start, so that rate() sees the first error.
	callErrors.WithLabelValues("transient")
	callErrors.WithLabelValues("permanent")
}

// countError counts one failed call.
func countError(err error) {
	kind := "permanent"
	if failure.IsTransient(err) {
		kind = "transient"
	}
	callErrors.WithLabelValues(kind).Inc()
}
