package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/testsvc"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// goodEnv is a working configuration against real services.
func goodEnv(t *testing.T) map[string]string {
	t.Helper()
	vs := vaulttest.Shared(t)
	tokens := vs.Bootstrap(t)
	_, rs := redistest.Start(t)
	ns := natstest.Start(t)
	return map[string]string{
		"TEXTKIT_HTTP_ADDR":      "127.0.0.1:0",
		"TEXTKIT_NATS_URL":       ns.URL(),
		"TEXTKIT_NATS_PASSWORD":  natstest.Passwords["retention"],
		"TEXTKIT_REDIS_ADDR":     rs.Addr,
		"TEXTKIT_REDIS_PASSWORD": rs.Password,
		"TEXTKIT_VAULT_ADDR":     vs.Addr,
		"TEXTKIT_VAULT_TOKEN":    tokens.Retention,
	}
}

// TestBadConfigurationIsOneClearLine checks that each misconfiguration
// stops the binary with an error that names what is wrong and how to fix it.
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	good := goodEnv(t)
	cases := []struct {
		name     string
		override map[string]string
		want     string
	}{
		{"malformed sweep interval", map[string]string{"TEXTKIT_SWEEP_INTERVAL": "often"}, `TEXTKIT_SWEEP_INTERVAL="often" is not a duration`},
		{"zero sweep interval", map[string]string{"TEXTKIT_SWEEP_INTERVAL": "0s"}, "TEXTKIT_SWEEP_INTERVAL=0s must be positive"},
		{"bad log level", map[string]string{"TEXTKIT_LOG_LEVEL": "loud"}, "use debug, info, warn or error"},
		{"no vault token", map[string]string{"TEXTKIT_VAULT_TOKEN": ""}, "TEXTKIT_VAULT_TOKEN is empty"},
		{"wrong vault token", map[string]string{"TEXTKIT_VAULT_TOKEN": "hvs.wrong"}, "refused TEXTKIT_VAULT_TOKEN"},
		{"vault unreachable", map[string]string{"TEXTKIT_VAULT_ADDR": "http://127.0.0.1:1"}, "vault at http://127.0.0.1:1 is not usable (is it running?"},
		{"redis unreachable", map[string]string{"TEXTKIT_REDIS_ADDR": "127.0.0.1:1"}, "cannot reach redis at 127.0.0.1:1"},
		{"redis wrong password", map[string]string{"TEXTKIT_REDIS_PASSWORD": "wrong"}, "TEXTKIT_REDIS_PASSWORD"},
		{"nats unreachable", map[string]string{"TEXTKIT_NATS_URL": "nats://127.0.0.1:1"}, "cannot connect to nats at nats://127.0.0.1:1"},
		{"nats wrong password", map[string]string{"TEXTKIT_NATS_PASSWORD": "wrong"}, "TEXTKIT_NATS_USER/TEXTKIT_NATS_PASSWORD"},
		{"http addr malformed", map[string]string{"TEXTKIT_HTTP_ADDR": "9102"}, "must be host:port"},
		{"stray argument", nil, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range good {
				env[k] = v
			}
			for k, v := range tc.override {
				env[k] = v
			}
			var args []string
			if tc.name == "stray argument" {
				args = []string{"extra"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, errw bytes.Buffer
			err := run(ctx, args, func(k string) string { return env[k] }, &out, &errw)
			if err == nil {
				t.Fatal("run succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q, want one line containing %q", msg, tc.want)
			}
		})
	}
}

// TestRunsIsReadyAndStopsGracefully starts the binary's run function
// against the real services, checks /readyz, and cancels it as SIGTERM would.
func TestRunsIsReadyAndStopsGracefully(t *testing.T) {
	env := goodEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var errw testsvc.SyncBuffer
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &errw) }()

	var addr string
	deadline := time.Now().Add(20 * time.Second)
	for addr == "" {
		for _, line := range strings.Split(errw.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "http listening" {
				addr = l.Addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not start; log:\n%s", errw.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var checks map[string]string
	err = json.NewDecoder(resp.Body).Decode(&checks)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || checks["nats"] != "ok" || checks["redis"] != "ok" || checks["vault"] != "ok" {
		t.Fatalf("/readyz: %d %v %v", resp.StatusCode, checks, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("retention did not stop after cancel")
	}
	if !strings.Contains(errw.String(), `"msg":"retention stopped"`) {
		t.Fatalf("no shutdown line in the JSON log:\n%s", errw.String())
	}
}
