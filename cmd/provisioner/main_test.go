package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/testsvc"
	"github.com/textkit/customers/internal/twiliotest"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// TestBadConfigurationIsOneClearLine checks that each misconfiguration
// stops the binary with an error that names what is wrong and how to fix it.
func TestBadConfigurationIsOneClearLine(t *testing.T) {
	vs := vaulttest.Shared(t)
	tokens := vs.Bootstrap(t)
	_, rs := redistest.Start(t)
	ns := natstest.Start(t)
	tw := twiliotest.NewServer(t, twiliotest.Config{})
	good := map[string]string{
		"TEXTKIT_HTTP_ADDR":          "127.0.0.1:0",
		"TEXTKIT_NATS_URL":           ns.URL(),
		"TEXTKIT_NATS_PASSWORD":      natstest.Passwords["provisioner"],
		"TEXTKIT_REDIS_ADDR":         rs.Addr,
		"TEXTKIT_REDIS_PASSWORD":     rs.Password,
		"TEXTKIT_VAULT_ADDR":         vs.Addr,
		"TEXTKIT_VAULT_TOKEN":        tokens.Provisioner,
		"TEXTKIT_TWILIO_API_URL":     tw.URL,
		"TEXTKIT_TWILIO_ACCOUNT_SID": tw.AccountSID(),
		"TEXTKIT_TWILIO_AUTH_TOKEN":  tw.AuthToken(),
	}
	cases := []struct {
		name     string
		override map[string]string
		want     string
	}{
		{"malformed duration", map[string]string{"TEXTKIT_KEY_WAIT": "soon"}, `TEXTKIT_KEY_WAIT="soon" is not a duration`},
		{"malformed boolean", map[string]string{"TEXTKIT_REDIS_ALLOW_UNSAFE_PERSISTENCE": "maybe"}, "is not a boolean"},
		{"bad log level", map[string]string{"TEXTKIT_LOG_LEVEL": "loud"}, "use debug, info, warn or error"},
		{"no twilio url", map[string]string{"TEXTKIT_TWILIO_API_URL": ""}, "TEXTKIT_TWILIO_API_URL is empty"},
		{"bad twilio sid", map[string]string{"TEXTKIT_TWILIO_ACCOUNT_SID": "nope"}, "TEXTKIT_TWILIO_ACCOUNT_SID"},
		{"no vault token", map[string]string{"TEXTKIT_VAULT_TOKEN": ""}, "TEXTKIT_VAULT_TOKEN is empty"},
		{"wrong vault token", map[string]string{"TEXTKIT_VAULT_TOKEN": "hvs.wrong"}, "refused TEXTKIT_VAULT_TOKEN"},
		{"vault unreachable", map[string]string{"TEXTKIT_VAULT_ADDR": "http://127.0.0.1:1"}, "vault at http://127.0.0.1:1 is not usable (is it running?"},
		{"redis unreachable", map[string]string{"TEXTKIT_REDIS_ADDR": "127.0.0.1:1"}, "cannot reach redis at 127.0.0.1:1"},
		{"redis wrong password", map[string]string{"TEXTKIT_REDIS_PASSWORD": "wrong"}, "TEXTKIT_REDIS_PASSWORD"},
		{"nats unreachable", map[string]string{"TEXTKIT_NATS_URL": "nats://127.0.0.1:1"}, "cannot connect to nats at nats://127.0.0.1:1"},
		{"nats wrong password", map[string]string{"TEXTKIT_NATS_PASSWORD": "wrong"}, "TEXTKIT_NATS_USER/TEXTKIT_NATS_PASSWORD"},
		{"nats url without scheme", map[string]string{"TEXTKIT_NATS_URL": "127.0.0.1:4222"}, "must start with nats://"},
		{"http addr malformed", map[string]string{"TEXTKIT_HTTP_ADDR": "8080"}, "must be host:port"},
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
			t.Log(msg)
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q, want one line containing %q", msg, tc.want)
			}
		})
	}
}

// TestRunsAndStopsGracefully starts the real binary's run function against
// the real services, checks readiness, and cancels it as SIGTERM would.
func TestRunsAndStopsGracefully(t *testing.T) {
	vs := vaulttest.Shared(t)
	tokens := vs.Bootstrap(t)
	_, rs := redistest.Start(t)
	ns := natstest.Start(t)
	tw := twiliotest.NewServer(t, twiliotest.Config{})
	env := map[string]string{
		"TEXTKIT_HTTP_ADDR":          "127.0.0.1:0",
		"TEXTKIT_NATS_URL":           ns.URL(),
		"TEXTKIT_NATS_PASSWORD":      natstest.Passwords["provisioner"],
		"TEXTKIT_REDIS_ADDR":         rs.Addr,
		"TEXTKIT_REDIS_PASSWORD":     rs.Password,
		"TEXTKIT_VAULT_ADDR":         vs.Addr,
		"TEXTKIT_VAULT_TOKEN":        tokens.Provisioner,
		"TEXTKIT_TWILIO_API_URL":     tw.URL,
		"TEXTKIT_TWILIO_ACCOUNT_SID": tw.AccountSID(),
		"TEXTKIT_TWILIO_AUTH_TOKEN":  tw.AuthToken(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var errw testsvc.SyncBuffer
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &errw) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errw.String(), "http listening") {
		if time.Now().After(deadline) {
			t.Fatalf("provisioner did not start; log:\n%s", errw.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("provisioner did not stop after cancel")
	}
	if !strings.Contains(errw.String(), `"msg":"provisioner stopped"`) {
		t.Fatalf("no shutdown line in the JSON log:\n%s", errw.String())
	}
}
