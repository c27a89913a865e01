package main

import (
	"net/http"
	"os"
	"testing"

	"github.com/textkit/customers/internal/service/servicetest"
	"github.com/textkit/customers/internal/twilio/emulator"
	"github.com/textkit/customers/internal/twilio/twiliotest"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

func env(t *testing.T) map[string]string {
	t.Helper()
	e := servicetest.Env(t, "provisioner", func(s vault.ServiceTokens) string { return s.Provisioner })
	tw := twiliotest.NewServer(t, emulator.Config{})
	e["TEXTKIT_TWILIO_API_URL"] = tw.URL
	e["TEXTKIT_TWILIO_ACCOUNT_SID"] = tw.AccountSID()
	e["TEXTKIT_TWILIO_AUTH_TOKEN"] = tw.AuthToken()
	return e
}

// Each misconfiguration stops the binary with one line that names what is
// wrong and how to fix it.
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	servicetest.ExpectErrors(t, run, env(t), append(servicetest.Common(),
		servicetest.Case{Name: "malformed duration", Override: map[string]string{"TEXTKIT_KEY_WAIT": "soon"}, Want: `TEXTKIT_KEY_WAIT="soon" is not a duration`},
		servicetest.Case{Name: "two replicas", Override: map[string]string{"TEXTKIT_NATS_REPLICAS": "2"}, Want: "TEXTKIT_NATS_REPLICAS: nats replicas 2: want 1 (one NATS server) or 3"},
		servicetest.Case{Name: "replicas not a number", Override: map[string]string{"TEXTKIT_NATS_REPLICAS": "three"}, Want: `TEXTKIT_NATS_REPLICAS="three" is not an integer`},
		servicetest.Case{Name: "no twilio url", Override: map[string]string{"TEXTKIT_TWILIO_API_URL": ""}, Want: "TEXTKIT_TWILIO_API_URL is empty"},
		servicetest.Case{Name: "bad twilio sid", Override: map[string]string{"TEXTKIT_TWILIO_ACCOUNT_SID": "nope"}, Want: "TEXTKIT_TWILIO_ACCOUNT_SID"},
		servicetest.Case{Name: "provisioner token names the provisioner", Override: map[string]string{"TEXTKIT_VAULT_TOKEN": "hvs.wrong"}, Want: "use the provisioner token"},
	))
}

// The binary starts against the real services, is ready, and stops cleanly
// on SIGTERM.
func TestRunsIsReadyAndStopsGracefully(t *testing.T) {
	r := servicetest.RunAndStop(t, run, env(t), "provisioner")
	if r.Status != http.StatusOK || r.Checks["nats"] != "ok" || r.Checks["redis"] != "ok" || r.Checks["vault"] != "ok" {
		t.Fatalf("/readyz: %+v", r)
	}
}
