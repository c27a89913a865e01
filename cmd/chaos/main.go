// Command chaos runs the chaos scenarios (internal/chaos): it brings up the
// whole stack as separate processes on its own loopback ports (through
// scripts/up.sh, in its own data directory), puts a toxiproxy between each
// service and each dependency, and for each scenario runs load, injects
// one fault at a seeded random moment, ends it, waits until the stack is
// quiet and checks every invariant against the load's ledger. It prints a
// table per scenario, writes a JSON report, and exits non-zero when any
// scenario broke an invariant. docs/chaos.md explains the report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/chaos"
	"github.com/textkit/customers/internal/service"
)

func main() {
	// A dependency that is down on purpose would fill the output with
	// go-redis's own dial errors; the runner reports what matters.
	redis.SetLogger(quietRedis{})
	service.Main("chaos", run)
}

// quietRedis drops go-redis's log lines.
type quietRedis struct{}

// Printf implements go-redis's logger.
func (quietRedis) Printf(context.Context, string, ...any) {}

// errFailed means a scenario broke an invariant (the table says which).
var errFailed = errors.New("invariants broken: see the table above")

type options struct {
	short                  bool
	seed                   int64
	scenarios              string
	list, keep             bool
	checkLedger            string
	dir, repo, jsonPath    string
	basePort               int
	duration, hold, settle time.Duration
	mutationTimeout        time.Duration
	external, cluster      bool
	ep                     chaos.Endpoints
	vaultEnv               string
}

func parse(args []string, stdout io.Writer) (*options, error) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stdout)
	o := &options{}
	fs.BoolVar(&o.short, "short", false, "run each scenario briefly (the test suite's version): 5s of load (plus the fault's hold), 2s faults, 3s mutation timeout")
	fs.Int64Var(&o.seed, "seed", 0, "seed of the fault moments and the load's choices (0: from the clock; printed either way)")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma-separated scenario names (default: all; -list names them)")
	fs.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	fs.StringVar(&o.checkLedger, "check", "", "only check this ledger against the stack kept running in -dir (with -base-port) and print the violations")
	fs.BoolVar(&o.keep, "keep", false, "leave the stack running afterwards (stop it with TEXTKIT_DATA_DIR=<dir> scripts/down.sh)")
	fs.StringVar(&o.dir, "dir", "", "the stack's data directory (default: a new temporary directory)")
	fs.StringVar(&o.repo, "repo", "", "the repository root (default: found from the working directory)")
	fs.StringVar(&o.jsonPath, "json", "", "where to write the JSON report (default: <dir>/chaos-report.json)")
	fs.IntVar(&o.basePort, "base-port", 24200, "first of the loopback ports the stack uses (it uses the next 40); 0: any free ones")
	fs.DurationVar(&o.duration, "duration", 0, "load per scenario, plus the fault's hold (default 60s, 5s with -short)")
	fs.DurationVar(&o.hold, "hold", 0, "how long each fault lasts (default 10s, 2s with -short)")
	fs.DurationVar(&o.settle, "quiesce", 3*time.Minute, "longest wait for the stack to settle after each scenario's load")
	fs.DurationVar(&o.mutationTimeout, "mutation-timeout", 0, "the gateway's mutation timeout (default 10s, 3s with -short)")
	fs.BoolVar(&o.cluster, "cluster", false, "run the cluster scenarios on the clustered stack (scripts/up.sh --cluster on its own ports: "+
		"3 NATS nodes, 6 Redis Cluster nodes, 3 Vault nodes, 2 gateways behind the runner's own balancer, 3 provisioners, 2 retention workers)")
	o.externalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, service.ErrHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.cluster && (o.external || o.checkLedger != "") {
		return nil, errors.New("-cluster runs its own clustered stack: not with -external or -check")
	}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.basePort != 0 && (o.basePort < 1024 || o.basePort > 65000) {
		return nil, fmt.Errorf("-base-port %d: want 1024 to 65000", o.basePort)
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	return o, nil
}

// defaults fills the durations not given, by -short.
func (o *options) defaults() error {
	defaults := map[*time.Duration][2]time.Duration{
		&o.duration: {60 * time.Second, 5 * time.Second}, &o.hold: {10 * time.Second, 2 * time.Second},
		&o.mutationTimeout: {10 * time.Second, 3 * time.Second},
	}
	for p, d := range defaults {
		switch {
		case *p < 0:
			return fmt.Errorf("durations must be positive, got %v", *p)
		case *p == 0 && o.short:
			*p = d[1]
		case *p == 0:
			*p = d[0]
		}
	}
	return nil
}

// externalFlags are the flags of -external: where the stack is.
func (o *options) externalFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.external, "external", false, "run against a stack someone else runs (docker compose --profile chaos): start and kill nothing, "+
		"run only the scenarios that need no process control; secrets from TEXTKIT_* variables")
	fs.StringVar(&o.ep.GraphQL, "graphql-url", "http://gateway:8080/graphql", "with -external: the GraphQL endpoint")
	fs.StringVar(&o.ep.Gateway, "gateway-url", "http://gateway:9100", "with -external: the gateway's ops port (serving /readyz)")
	fs.StringVar(&o.ep.Provisioner, "provisioner-url", "http://provisioner:9101", "with -external: the provisioner (serving /readyz)")
	fs.StringVar(&o.ep.Retention, "retention-url", "http://retention:9102", "with -external: retention (serving /readyz)")
	fs.StringVar(&o.ep.NATS, "nats-url", "nats://nats:4222", "with -external: NATS")
	fs.StringVar(&o.ep.NATSMonitor, "nats-monitor-url", "http://nats:8222", "with -external: NATS's monitoring endpoint")
	fs.StringVar(&o.ep.Redis, "redis-addr", "redis:6399", "with -external: Redis host:port")
	fs.StringVar(&o.ep.Vault, "vault-addr", "http://vault:8200", "with -external: Vault")
	fs.StringVar(&o.ep.Emulator, "twilio-url", "http://twilio-emulator:8790", "with -external: the Twilio emulator")
	fs.StringVar(&o.vaultEnv, "vault-env", "/var/lib/textkit/vault/vault.env", "with -external: textkit vault-init's output (the services' Vault tokens)")
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parse(args, stdout)
	if err != nil {
		return err
	}
	var names []string
	if o.scenarios != "" {
		names = strings.Split(o.scenarios, ",")
	}
	scenarios, err := chaos.Select(names, o.short, o.external)
	if o.cluster {
		scenarios, err = chaos.SelectCluster(names)
	}
	if err != nil {
		return err
	}
	if o.list {
		for _, sc := range scenarios {
			_, _ = fmt.Fprintf(stdout, "%-22s %s\n", sc.Name, sc.Description)
		}
		return nil
	}
	if o.checkLedger != "" {
		return checkOnly(ctx, o, stdout)
	}
	stack, stackCfg, err := o.stack(ctx, len(scenarios), getenv, stdout)
	if err != nil {
		return err
	}
	if !o.keep && !o.external {
		defer func() {
			if err := stack.Down(context.Background()); err != nil {
				_, _ = fmt.Fprintf(stderr, "chaos: %v\n", err)
			}
		}()
	}
	started := time.Now().UTC()
	results, runErr := chaos.Run(ctx, stack, chaos.Config{Stack: stackCfg, Scenarios: scenarios, Seed: o.seed, Load: runLoad,
		Duration: o.duration, Hold: o.hold, Quiesce: o.settle}, stdout)
	if err := o.report(stdout, results, started); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	for _, r := range results {
		if !r.Passed() {
			return errFailed
		}
	}
	return nil
}

// report prints the tables and writes the JSON report.
func (o *options) report(stdout io.Writer, results []*chaos.Result, started time.Time) error {
	_, _ = fmt.Fprintf(stdout, "\nchaos: seed %d\n", o.seed)
	if err := chaos.WriteTable(stdout, results); err != nil {
		return err
	}
	if o.cluster {
		_, _ = fmt.Fprintln(stdout, "\nwhat the faults cost the clients:")
		if err := chaos.WriteClusterTable(stdout, results); err != nil {
			return err
		}
	}
	if err := chaos.WriteJSON(o.jsonPath, chaos.Summary{Seed: o.seed, Short: o.short, StartedAt: started, Results: results}); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, "chaos: report %s\n", o.jsonPath)
	return nil
}

// stack brings the stack up, or attaches to the external one.
func (o *options) stack(ctx context.Context, n int, getenv func(string) string, stdout io.Writer) (*chaos.Stack, chaos.StackConfig, error) {
	if err := o.resolvePaths(); err != nil {
		return nil, chaos.StackConfig{}, err
	}
	if o.basePort == 0 {
		p, err := chaos.FreePorts()
		if err != nil {
			return nil, chaos.StackConfig{}, err
		}
		o.basePort = p.Base
	}
	var err error
	stackCfg := chaos.StackConfig{Repo: o.repo, Dir: o.dir, Ports: chaos.Ports{Base: o.basePort}, MutationTimeout: o.mutationTimeout}
	var stack *chaos.Stack
	if o.external {
		_, _ = fmt.Fprintf(stdout, "chaos: seed %d, %d scenarios, against the stack at %s\n", o.seed, n, o.ep.GraphQL)
		stackCfg.External, stackCfg.Secrets, stackCfg.VaultEnv = &o.ep, secretsFrom(getenv), o.vaultEnv
		stack, err = chaos.Attach(stackCfg)
	} else {
		_, _ = fmt.Fprintf(stdout, "chaos: seed %d, %d scenarios, stack in %s (ports from %d)\n", o.seed, n, o.dir, o.basePort)
		up := chaos.Up
		if o.cluster {
			up = chaos.ClusterUp
		}
		stack, err = up(ctx, stackCfg)
	}
	if err != nil {
		return nil, stackCfg, fmt.Errorf("bring the stack up: %w", err)
	}
	return stack, stackCfg, nil
}

func (o *options) resolvePaths() error {
	if o.repo == "" && !o.external {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "scripts", "up.sh")); err == nil {
				o.repo = d
				break
			}
			if filepath.Dir(d) == d {
				return errors.New("no repository (scripts/up.sh) above the working directory: give -repo")
			}
		}
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "textkit-chaos-")
		if err != nil {
			return err
		}
		o.dir = d
	}
	if o.jsonPath == "" {
		o.jsonPath = filepath.Join(o.dir, "chaos-report.json")
	}
	return nil
}

// checkOnly checks a ledger against a stack left running (-keep).
func checkOnly(ctx context.Context, o *options, stdout io.Writer) error {
	if o.dir == "" || o.basePort == 0 {
		return errors.New("-check needs the running stack's -dir and -base-port")
	}
	s, err := chaos.Attach(chaos.StackConfig{Dir: o.dir, Ports: chaos.Ports{Base: o.basePort}})
	if err != nil {
		return err
	}
	rep, err := s.Check(ctx, o.checkLedger)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprint(stdout, rep.Summary())
	if len(rep.Violations) > 0 {
		return errFailed
	}
	return nil
}

// secretNames are the secrets -external reads from the environment.
var secretNames = []string{"TEXTKIT_REDIS_PASSWORD", "TEXTKIT_NATS_PROVISIONER_PASSWORD", "TEXTKIT_NATS_PARTNER_PASSWORD",
	"TEXTKIT_NATS_PARTNER2_PASSWORD", "TEXTKIT_VAULT_ROOT_TOKEN", "TEXTKIT_VAULT_UNSEAL_KEY", "TEXTKIT_TWILIO_ACCOUNT_SID", "TEXTKIT_TWILIO_AUTH_TOKEN"}

func secretsFrom(getenv func(string) string) map[string]string {
	m := map[string]string{}
	for _, n := range secretNames {
		m[n] = getenv(n)
	}
	return m
}
