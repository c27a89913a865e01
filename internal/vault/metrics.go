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
	// Every series exists from the start, so that rate() sees the first error.
	for _, k := range failure.Kinds {
		callErrors.WithLabelValues(k)
	}
}

// countError counts one failed call.
func countError(err error) { callErrors.WithLabelValues(failure.Kind(err)).Inc() }
