package main

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/service/servicetest"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

func env(t *testing.T) map[string]string {
	t.Helper()
	return servicetest.Env(t, "gateway", func(s vault.ServiceTokens) string { return s.Gateway })
}

// Each misconfiguration stops the binary with one line that names what is
// wrong and how to fix it.
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	servicetest.ExpectErrors(t, run, env(t), append(servicetest.Common(),
		servicetest.Case{Name: "malformed timeout", Override: map[string]string{"TEXTKIT_MUTATION_TIMEOUT": "ten"}, Want: `TEXTKIT_MUTATION_TIMEOUT="ten" is not a duration`},
		servicetest.Case{Name: "timeout out of range", Override: map[string]string{"TEXTKIT_MUTATION_TIMEOUT": "1h"}, Want: "must be between"},
		servicetest.Case{Name: "request timeout too short", Override: map[string]string{"TEXTKIT_REQUEST_TIMEOUT": "1s"}, Want: "TEXTKIT_REQUEST_TIMEOUT"},
		servicetest.Case{Name: "limit below one", Override: map[string]string{"TEXTKIT_MAX_DEPTH": "0"}, Want: "TEXTKIT_MAX_DEPTH=0 must be at least 1"},
		servicetest.Case{Name: "malformed integer", Override: map[string]string{"TEXTKIT_MAX_DEPTH": "deep"}, Want: `TEXTKIT_MAX_DEPTH="deep" is not an integer`},
		servicetest.Case{Name: "gateway token names the gateway", Override: map[string]string{"TEXTKIT_VAULT_TOKEN": "hvs.wrong"}, Want: "use the gateway token"},
	))
}

// The gateway starts against the real services and stops cleanly on
// SIGTERM; without a provisioner (which creates the command stream) it is
// alive but not ready: /readyz names the failed check, and only the log
// has the error itself.
func TestRunsAndStopsGracefully(t *testing.T) {
	r := servicetest.RunAndStop(t, run, env(t), "gateway")
	if r.Status != http.StatusServiceUnavailable || r.Checks["command-stream"] != "failed" || r.Checks["redis"] != "ok" {
		t.Fatalf("/readyz without a command stream: %+v", r)
	}
	if !strings.Contains(r.Logs, `"readiness check failed"`) || !strings.Contains(r.Logs, `"check":"command-stream"`) || !strings.Contains(r.Logs, "CUSTOMER_COMMANDS") {
		t.Fatalf("the log does not say why command-stream failed:\n%s", r.Logs)
	}
}
