package main

import (
	"net/http"
	"os"
	"testing"

	"github.com/textkit/customers/internal/service/servicetest"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

func env(t *testing.T) map[string]string {
	t.Helper()
	return servicetest.Env(t, "retention", func(s vault.ServiceTokens) string { return s.Retention })
}

// Each misconfiguration stops the binary with one line that names what is
// wrong and how to fix it.
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	servicetest.ExpectErrors(t, run, env(t), append(servicetest.Common(),
		servicetest.Case{Name: "malformed sweep interval", Override: map[string]string{"TEXTKIT_SWEEP_INTERVAL": "often"}, Want: `TEXTKIT_SWEEP_INTERVAL="often" is not a duration`},
		servicetest.Case{Name: "zero sweep interval", Override: map[string]string{"TEXTKIT_SWEEP_INTERVAL": "0s"}, Want: "TEXTKIT_SWEEP_INTERVAL=0s must be positive"},
		servicetest.Case{Name: "retention token names retention", Override: map[string]string{"TEXTKIT_VAULT_TOKEN": "hvs.wrong"}, Want: "use the retention token"},
	))
}

// The binary starts against the real services, is ready, and stops cleanly
// on SIGTERM.
func TestRunsIsReadyAndStopsGracefully(t *testing.T) {
	r := servicetest.RunAndStop(t, run, env(t), "retention")
	if r.Status != http.StatusOK || r.Checks["nats"] != "ok" || r.Checks["redis"] != "ok" || r.Checks["vault"] != "ok" {
		t.Fatalf("/readyz: %+v", r)
	}
}
