package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/load"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// `textkit load` against the whole stack: the GraphQL target with the API
// key from the data directory, then the NATS target with the partner's
// password (and the ceiling's) from its secrets.env, as on the dev stack.
func TestLoadCommand(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "api-key"), []byte(s.PartnerKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := "# comment\nTEXTKIT_NATS_PARTNER_PASSWORD=" + natstest.Passwords[natstest.SeedPartnerUser] +
		"\nTEXTKIT_NATS_PROVISIONER_PASSWORD=" + natstest.Passwords["provisioner"] + "\n"
	if err := os.WriteFile(filepath.Join(data, "secrets.env"), []byte(secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"graphql", []string{"-target", "graphql", "-mix", "lifecycle", "-exact-versions"}},
		{"nats", []string{"-target", "nats", "-mix", "hot", "-model", "open", "-rate", "20", "-ceiling", "500ms", "-ceiling-clients", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append([]string{"load", "-data-dir", data, "-out", out, "-duration", "1s", "-workers", "2", "-progress", "250ms",
				"-graphql-url", s.Gateway.URL + "/graphql", "-nats-url", s.NATS.URL()}, tc.args...)
			text, err := runTextkit(t, nil, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			for _, want := range []string{"load: ", "throughput", "p99", filepath.Join(out, load.ReportHTML)} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			var rep load.Report
			b, err := os.ReadFile(filepath.Join(out, load.ReportJSON))
			if err != nil || json.Unmarshal(b, &rep) != nil {
				t.Fatalf("report.json: %v", err)
			}
			_, recs, err := ledger.Read(filepath.Join(out, load.LedgerFile))
			if err != nil || rep.Commands == 0 || len(recs) != rep.Commands+rep.SetupCommands {
				t.Fatalf("ledger %d records (%v), report %d + %d", len(recs), err, rep.Commands, rep.SetupCommands)
			}
			if tc.name == "nats" && (rep.Ceiling == nil || rep.CeilingRatio <= 0 || !strings.Contains(text, "ratio")) {
				t.Errorf("no ceiling in %+v\n%s", rep, text)
			}
			if _, err := os.Stat(filepath.Join(out, load.ReportHTML)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLoadFlags(t *testing.T) {
	text, err := runTextkit(t, nil, "load", "-h")
	if !errors.Is(err, service.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-target", "-mix", "-model", "-rate", "-workers", "-duration", "-customers", "-exact-versions", "-graphql-url", "-api-key",
		"-nats-url", "-nats-user", "-nats-password", "-partner", "-industry", "-mutation-timeout", "-ceiling", "-ceiling-clients",
		"-ceiling-bytes", "-ceiling-user", "-ceiling-password", "-out", "-data-dir", "-progress", "-seed"} {
		if !strings.Contains(text, "  "+f+" ") && !strings.Contains(text, "  "+f+"\n") {
			t.Errorf("-h does not document %s", f)
		}
	}
	data := t.TempDir() // no api-key, no secrets.env
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mix", "steady", "-api-key", "k"}, `mix "steady"`},
		{[]string{"-api-key", "k", "-model", "open", "-rate", "0"}, "rate above 0"},
		{[]string{"-data-dir", data}, "API key is required"},
		{[]string{"-data-dir", data, "-target", "nats"}, "NATS password is required"},
		{[]string{"-data-dir", data, "-mix", "ceiling"}, "may create a stream"},
		{[]string{"-workers", "x"}, "invalid value"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		_, err := runTextkit(t, nil, append([]string{"load"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
