// Package servicetest runs a service binary's run function in a test: a
// working configuration against the real services, a table of broken ones
// that must each stop it with one clear line, and a start, readiness check
// and graceful stop.
package servicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

// RunFunc is a binary's run function (see service.Main).
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Env starts NATS, Redis and Vault (the package's shared dev server: use
// vaulttest.Main in TestMain) and returns a working configuration for the
// service whose NATS user is user and whose Vault token token picks.
func Env(t *testing.T, user string, token func(vault.ServiceTokens) string) map[string]string {
	t.Helper()
	vs := vaulttest.Shared(t)
	tokens := vs.Bootstrap(t)
	_, rs := redistest.Start(t)
	ns := natstest.Start(t)
	return map[string]string{
		"TEXTKIT_HTTP_ADDR":      "127.0.0.1:0",
		"TEXTKIT_OPS_ADDR":       "127.0.0.1:0", // read by the services with an API port of their own
		"TEXTKIT_NATS_URL":       ns.URL(),
		"TEXTKIT_NATS_PASSWORD":  natstest.Passwords[user],
		"TEXTKIT_REDIS_ADDR":     rs.Addr,
		"TEXTKIT_REDIS_PASSWORD": rs.Password,
		"TEXTKIT_VAULT_ADDR":     vs.Addr,
		"TEXTKIT_VAULT_TOKEN":    token(tokens),
	}
}

// Case is one broken configuration: Override changes the good one ("" to
// unset a variable), Args are the command line, and the error must be one
// line containing Want.
type Case struct {
	Name     string
	Override map[string]string
	Args     []string
	Want     string
}

// Common are the broken configurations every service must reject the
// same way.
func Common() []Case {
	return []Case{
		{"bad log level", map[string]string{"TEXTKIT_LOG_LEVEL": "loud"}, nil, "use debug, info, warn or error"},
		{"bad traces exporter", map[string]string{"TEXTKIT_TRACES": "jaeger"}, nil, `TEXTKIT_TRACES="jaeger": use off, stdout or otlp`},
		{"otlp endpoint without scheme", map[string]string{"TEXTKIT_TRACES": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"}, nil, "OTEL_EXPORTER_OTLP_ENDPOINT=\"127.0.0.1:4318\" must be an http(s) URL"},
		{"malformed boolean", map[string]string{"TEXTKIT_REDIS_ALLOW_UNSAFE_PERSISTENCE": "maybe"}, nil, "is not a boolean"},
		{"no vault token", map[string]string{"TEXTKIT_VAULT_TOKEN": ""}, nil, "TEXTKIT_VAULT_TOKEN is empty"},
		{"wrong vault token", map[string]string{"TEXTKIT_VAULT_TOKEN": "hvs.wrong"}, nil, "refused TEXTKIT_VAULT_TOKEN"},
		{"vault unreachable", map[string]string{"TEXTKIT_VAULT_ADDR": "http://127.0.0.1:1"}, nil, "vault at http://127.0.0.1:1 is not usable (is it running?"},
		{"vault list with a bad entry", map[string]string{"TEXTKIT_VAULT_ADDR": "http://127.0.0.1:8200,127.0.0.1:8201"}, nil, `vault addr "127.0.0.1:8201" must be an http(s) URL`},
		{"vault list with every node unreachable", map[string]string{"TEXTKIT_VAULT_ADDR": "http://127.0.0.1:1,http://127.0.0.1:2"}, nil, "vault at http://127.0.0.1:1,http://127.0.0.1:2 is not usable"},
		{"redis unreachable", map[string]string{"TEXTKIT_REDIS_ADDR": "127.0.0.1:1"}, nil, "cannot reach redis at 127.0.0.1:1"},
		{"redis wrong password", map[string]string{"TEXTKIT_REDIS_PASSWORD": "wrong"}, nil, "TEXTKIT_REDIS_PASSWORD"},
		{"nats unreachable", map[string]string{"TEXTKIT_NATS_URL": "nats://127.0.0.1:1"}, nil, "cannot connect to nats at nats://127.0.0.1:1"},
		{"nats wrong password", map[string]string{"TEXTKIT_NATS_PASSWORD": "wrong"}, nil, "TEXTKIT_NATS_USER/TEXTKIT_NATS_PASSWORD"},
		{"nats url without scheme", map[string]string{"TEXTKIT_NATS_URL": "127.0.0.1:4222"}, nil, "must start with nats://"},
		{"nats seed list with a bad entry", map[string]string{"TEXTKIT_NATS_URL": "nats://127.0.0.1:4222,127.0.0.1:4223"}, nil, `entry 2: nats url "127.0.0.1:4223" must start with nats://`},
		{"nats seed list with an empty entry", map[string]string{"TEXTKIT_NATS_URL": "nats://127.0.0.1:4222,,nats://127.0.0.1:4223"}, nil, "entry 2: nats url is empty"},
		{"http addr malformed", map[string]string{"TEXTKIT_HTTP_ADDR": "8080"}, nil, "must be host:port"},
		{"stray argument", nil, []string{"extra"}, `unexpected argument "extra"`},
	}
}

// ExpectErrors runs run once per case and checks that each stops it with
// one line that names what is wrong.
func ExpectErrors(t *testing.T, run RunFunc, good map[string]string, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range good {
				env[k] = v
			}
			for k, v := range tc.Override {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, tc.Args, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.Want) {
				t.Fatalf("error %q, want one line containing %q", msg, tc.Want)
			}
		})
	}
}

// Readiness is what /readyz answered, and the service's log.
type Readiness struct {
	Status int
	Checks map[string]string
	Logs   string
}

// RunAndStop starts run with env, waits for its operations endpoints, reads
// /readyz, then cancels it as SIGTERM would and checks that it returns
// nil and logs "<name> stopped".
func RunAndStop(t *testing.T, run RunFunc, env map[string]string, name string) Readiness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var logs testenv.Buffer
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, &logs) }()

	var addr string
	testenv.Eventually(t, 20*time.Second, func() error {
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Msg, Addr, Serves string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "http listening" && l.Serves == "ops" {
				addr = l.Addr
			}
		}
		if addr != "" {
			return nil
		}
		select {
		case err := <-done:
			t.Fatalf("%s stopped at start: %v; log:\n%s", name, err, logs.String())
		default:
		}
		return fmt.Errorf("%s did not start; log:\n%s", name, logs.String())
	})
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	r := Readiness{Status: resp.StatusCode}
	err = json.NewDecoder(resp.Body).Decode(&r.Checks)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("/readyz is not JSON: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop after cancel", name)
	}
	if !strings.Contains(logs.String(), `"msg":"`+name+` stopped"`) {
		t.Fatalf("no shutdown line in the JSON log:\n%s", logs.String())
	}
	r.Logs = logs.String()
	return r
}
