package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/service/servicetest"
	"github.com/textkit/customers/internal/testenv"
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

// The GraphQL port serves the API (and, in the dev profile only, the
// IDE); /readyz and /metrics are on the operations port alone.
func TestOperationsPortAndIDE(t *testing.T) {
	for _, dev := range []bool{false, true} {
		t.Run(fmt.Sprintf("dev=%v", dev), func(t *testing.T) {
			e := env(t)
			e["TEXTKIT_DEV"] = fmt.Sprint(dev)
			api, ops := start(t, e)
			wantStatus(t, "http://"+ops+"/metrics", http.StatusOK)
			wantStatus(t, "http://"+ops+"/healthz", http.StatusOK)
			wantStatus(t, "http://"+api+"/readyz", http.StatusNotFound)
			wantStatus(t, "http://"+api+"/metrics", http.StatusNotFound)
			wantStatus(t, "http://"+ops+"/graphql", http.StatusNotFound)
			ide := http.StatusNotFound
			if dev {
				ide = http.StatusOK
			}
			wantStatus(t, "http://"+api+"/ide/", ide)
			wantStatus(t, "http://"+api+"/ide/examples.json", ide)
		})
	}
}

func TestOperationsAddressMustDiffer(t *testing.T) {
	servicetest.ExpectErrors(t, run, env(t), []servicetest.Case{
		{Name: "same address", Override: map[string]string{"TEXTKIT_HTTP_ADDR": "127.0.0.1:18080", "TEXTKIT_OPS_ADDR": "127.0.0.1:18080"}, Want: "need a port of their own"},
		{Name: "ops address malformed", Override: map[string]string{"TEXTKIT_OPS_ADDR": "9100"}, Want: "must be host:port"},
	})
}

// start runs the gateway with e until the test ends and returns its API
// and operations addresses.
func start(t *testing.T, e map[string]string) (api, ops string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	var logs testenv.Buffer
	go func() {
		defer close(done)
		runErr = run(ctx, nil, func(k string) string { return e[k] }, io.Discard, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			t.Errorf("gateway: %v", runErr)
		}
	})
	testenv.Eventually(t, 20*time.Second, func() error {
		select {
		case <-done:
			return testenv.Abort(fmt.Errorf("the gateway stopped at start: %v; log:\n%s", runErr, logs.String()))
		default:
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Msg, Addr, Serves string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "http listening" {
				if l.Serves == "api" {
					api = l.Addr
				} else {
					ops = l.Addr
				}
			}
		}
		if api == "" || ops == "" {
			return fmt.Errorf("not listening yet; log:\n%s", logs.String())
		}
		return nil
	})
	return api, ops
}

func wantStatus(t *testing.T, url string, want int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("GET %s: %s, want %d", url, resp.Status, want)
	}
}
