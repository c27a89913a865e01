package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/chaos"
	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/testenv"
)

func TestBrokenCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-duration", "-1s"}, "durations must be positive"},
		{[]string{"-base-port", "80"}, "-base-port 80"},
		{[]string{"-scenarios", "kill-everything", "-list"}, `unknown scenario "kill-everything"`},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-seed", "x"}, "invalid value"},
		{[]string{"-cluster", "-external"}, "not with -external"},
		{[]string{"-cluster", "-scenarios", "kill-gateway", "-list"}, `unknown cluster scenario "kill-gateway"`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, os.Getenv, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("chaos %v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestHelpAndList(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, os.Getenv, &out, &out); !errors.Is(err, service.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(out.String(), "-short") {
		t.Fatalf("-h does not describe -short:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"-list", "-short"}, os.Getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, sc := range chaos.Scenarios() {
		if listed := strings.Contains(out.String(), sc.Name+" "); listed == sc.LongOnly {
			t.Errorf("-list -short: %s listed %v, long-only %v", sc.Name, listed, sc.LongOnly)
		}
	}
}

func TestShortScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole stack for minutes")
	}
	want, err := chaos.Select(nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := runShort(t, 15*time.Minute)
	if len(sum.Results) != len(want) {
		t.Fatalf("report has %d results, want %d", len(sum.Results), len(want))
	}
	for i, r := range sum.Results {
		if r.Name != want[i].Name {
			t.Errorf("result %d is %s, want %s", i, r.Name, want[i].Name)
		}
		if r.Counts.Acknowledged == 0 || r.Counts.Applied == 0 {
			t.Errorf("%s: the load applied nothing (%+v)", r.Name, r.Counts)
		}
		if want[i].Crash && len(r.Partitions) == 0 {
			t.Errorf("%s: no partition measured after the crash", r.Name)
		}
	}
}

// TestShortClusterScenarios runs every cluster scenario briefly on the
// clustered stack: each must keep every invariant and measure every
// partition with work after the fault.
func TestShortClusterScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the clustered stack for minutes")
	}
	sum, out := runShort(t, 10*time.Minute, "-cluster")
	want := chaos.ClusterScenarios()
	if len(sum.Results) != len(want) {
		t.Fatalf("report has %d results, want %d", len(sum.Results), len(want))
	}
	for i, r := range sum.Results {
		if r.Name != want[i].Name {
			t.Errorf("result %d is %s, want %s", i, r.Name, want[i].Name)
		}
		if r.Counts.Acknowledged == 0 || r.Counts.Applied == 0 {
			t.Errorf("%s: the load applied nothing (%+v)", r.Name, r.Counts)
		}
		if len(r.Partitions) == 0 {
			t.Errorf("%s: no partition measured after the fault", r.Name)
		}
	}
	if !strings.Contains(out, "error window") {
		t.Errorf("no error window table in the output")
	}
}

// runShort runs chaos -short (with more flags) on a stack of its own, the
// services it needs on the machine, and returns the JSON report and the
// output; any failure of the run fails the test.
func runShort(t *testing.T, limit time.Duration, flags ...string) (chaos.Summary, string) {
	t.Helper()
	for _, bin := range []string{"nats-server", "redis-server", "vault"} {
		if _, ok := testenv.LookBinary(bin); !ok {
			testenv.Missing(t, bin, "scripts/deps.sh installs it")
		}
	}
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Missing(t, "curl", "scripts/up.sh needs it")
	}
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var out bytes.Buffer
	args := append(flags, "-short", "-seed", "1", "-base-port", "0", "-dir", filepath.Join(dir, "stack"), "-json", report)
	err := run(ctx, args, os.Getenv, &out, &out)
	t.Logf("chaos output:\n%s", out.String())
	if err != nil {
		// the stack's own log says why it did not come up; the temp dir
		// is gone after the test
		if log, rerr := os.ReadFile(filepath.Join(dir, "stack", "up.log")); rerr == nil {
			t.Logf("up.log, its end:\n%s", log[max(0, len(log)-8000):])
		}
		logServiceTrouble(t, filepath.Join(dir, "stack"), out.String())
		t.Fatalf("chaos %v: %v", args, err)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var sum chaos.Summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	return sum, out.String()
}

// logServiceTrouble logs the last warnings and errors of each of our
// services' logs in the stack's directory (the single stack's logs/ or
// the clustered stack's cluster/logs/), which go with the temp dir: what
// a failed scenario's services said; and every line, of any level, about
// a customer a violation in output names.
func logServiceTrouble(t *testing.T, stack, output string) {
	t.Helper()
	var files []string
	for _, pattern := range []string{"logs/*.log", "cluster/logs/*.log"} {
		m, _ := filepath.Glob(filepath.Join(stack, pattern)) // the patterns are valid
		files = append(files, m...)
	}
	named := violatingCustomers(output)
	for _, f := range files {
		name := filepath.Base(f)
		if !slices.ContainsFunc([]string{"gateway", "provisioner", "retention", "twilio-emulator"}, func(s string) bool { return strings.HasPrefix(name, s) }) {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var trouble, about []string
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				trouble = append(trouble, line)
			}
			if slices.ContainsFunc(named, func(id string) bool { return strings.Contains(line, id) }) {
				about = append(about, line)
			}
		}
		if len(trouble) > 0 {
			t.Logf("%s: %d warnings and errors, the last ones:\n%s", name, len(trouble), strings.Join(trouble[max(0, len(trouble)-15):], "\n"))
		}
		if len(about) > 0 {
			t.Logf("%s: %d lines about %v, the last ones:\n%s", name, len(about), named, strings.Join(about[max(0, len(about)-40):], "\n"))
		}
	}
}

// violatingCustomers returns the customer ids named by the violation lines
// of a chaos output ("<scenario>: <CODE> customer <id>: ...").
func violatingCustomers(output string) []string {
	var ids []string
	for _, line := range strings.Split(output, "\n") {
		_, rest, ok := strings.Cut(line, " customer ")
		if !ok {
			continue
		}
		id, _, _ := strings.Cut(rest, ":")
		if len(id) == 36 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestViolatingCustomers(t *testing.T) {
	out := "cut-vault: KEY_ALIVE_LATE customer db3e21a5-dc29-4890-a737-3d5243fc1541: key still exists\n" +
		"cut-vault: error: quiesce: not quiet\n" +
		"x: LOST customer db3e21a5-dc29-4890-a737-3d5243fc1541: again\n" +
		"y: OTHER customer 0b7e1c2a-0000-4000-8000-000000000001: z\n"
	got := violatingCustomers(out)
	want := []string{"db3e21a5-dc29-4890-a737-3d5243fc1541", "0b7e1c2a-0000-4000-8000-000000000001"}
	if !slices.Equal(got, want) {
		t.Fatalf("violatingCustomers: %v, want %v", got, want)
	}
}
