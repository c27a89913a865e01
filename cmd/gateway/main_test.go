package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/testsvc"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

func environment(t *testing.T) map[string]string {
	t.Helper()
	vs := vaulttest.Shared(t)
	tokens := vs.Bootstrap(t)
	_, rs := redistest.Start(t)
	ns := natstest.Start(t)
	return map[string]string{
		"TEXTKIT_HTTP_ADDR":      "127.0.0.1:0",
		"TEXTKIT_NATS_URL":       ns.URL(),
		"TEXTKIT_NATS_PASSWORD":  natstest.Passwords["gateway"],
		"TEXTKIT_REDIS_ADDR":     rs.Addr,
		"TEXTKIT_REDIS_PASSWORD": rs.Password,
		"TEXTKIT_VAULT_ADDR":     vs.Addr,
		"TEXTKIT_VAULT_TOKEN":    tokens.Gateway,
	}
}

func TestBadConfigurationIsOneClearLine(t *testing.T) {
	good := environment(t)
	cases := []struct {
		name     string
		override map[string]string
		want     string
	}{
		{"malformed timeout", map[string]string{"TEXTKIT_MUTATION_TIMEOUT": "ten"}, `TEXTKIT_MUTATION_TIMEOUT="ten" is not a duration`},
		{"timeout out of range", map[string]string{"TEXTKIT_MUTATION_TIMEOUT": "1h"}, "must be between"},
		{"request timeout too short", map[string]string{"TEXTKIT_REQUEST_TIMEOUT": "1s"}, "TEXTKIT_REQUEST_TIMEOUT"},
		{"limit below one", map[string]string{"TEXTKIT_MAX_DEPTH": "0"}, "TEXTKIT_MAX_DEPTH=0 must be at least 1"},
		{"malformed integer", map[string]string{"TEXTKIT_MAX_DEPTH": "deep"}, `TEXTKIT_MAX_DEPTH="deep" is not an integer`},
		{"wrong vault token", map[string]string{"TEXTKIT_VAULT_TOKEN": "hvs.wrong"}, "refused TEXTKIT_VAULT_TOKEN (use the gateway token"},
		{"redis unreachable", map[string]string{"TEXTKIT_REDIS_ADDR": "127.0.0.1:1"}, "cannot reach redis at 127.0.0.1:1"},
		{"nats wrong password", map[string]string{"TEXTKIT_NATS_PASSWORD": "wrong"}, "TEXTKIT_NATS_USER/TEXTKIT_NATS_PASSWORD"},
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
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q, want one line containing %q", msg, tc.want)
			}
		})
	}
}

// TestServesAndStops runs the gateway against the real services: the port
// answers /healthz, /readyz reports the missing command stream (no
// provisioner here) and a cancel stops it cleanly.
func TestServesAndStops(t *testing.T) {
	env := environment(t)
	env["TEXTKIT_HTTP_ADDR"] = "127.0.0.1:" + strconv.Itoa(testsvc.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs testsvc.SyncBuffer
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, &logs) }()
	base := "http://" + env["TEXTKIT_HTTP_ADDR"]
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not serve /healthz; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "CUSTOMER_COMMANDS") {
		t.Fatalf("/readyz without a command stream: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop")
	}
	if !strings.Contains(logs.String(), `"msg":"gateway stopped"`) {
		t.Fatalf("no shutdown line in the JSON log:\n%s", logs.String())
	}
}
