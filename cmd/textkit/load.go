package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/load"
	"github.com/textkit/customers/internal/service"
)

// The dev stack's defaults (scripts/up.sh): the docs' partner and industry.
const (
	devPartnerID  = "25521a6f-b8d1-414b-8575-545430f076fd"
	devIndustryID = "e4c81004-1a4c-477f-97e3-b67022e9a351"
)

// loadCmd is `textkit load`: it drives load against the stack and writes
// ledger.jsonl, report.json and report.html into the output directory
// (docs/load.md).
func loadCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, out, err := parseLoadFlags(args, getenv, stdout)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("load: output directory: %w", err)
	}
	cfg.LedgerPath = filepath.Join(out, load.LedgerFile)
	if cfg.Mix == load.MixCeiling {
		cfg.LedgerPath = ""
	}
	rep, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := rep.WriteFiles(out); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	printSummary(stdout, rep, out)
	return nil
}

// loadFlags are the flags' values before they make a load.Config.
type loadFlags struct {
	cfg                      load.Config
	out, dataDir             string
	ceiling                  time.Duration
	ceilingUser, ceilingPass string
	apiKey, natsPass         string
	progress                 time.Duration
	resources                bool
}

func parseLoadFlags(args []string, getenv func(string) string, stdout io.Writer) (load.Config, string, error) {
	fs := service.NewFlags("load", getenv)
	f := &loadFlags{}
	c := &f.cfg
	fs.StringVar(&c.Target, "target", ledger.ViaGraphQL, "graphql (mutations through the gateway) or nats (commands published straight onto JetStream as the partner's direct publisher)")
	fs.StringVar(&c.Mix, "mix", load.MixLifecycle, "register, lifecycle, terminate, hot, or ceiling (the ceiling alone)")
	fs.StringVar(&c.Model, "model", load.Closed, "closed (-workers workers back to back) or open (-rate steps per second, latency from each step's intended time)")
	fs.Float64Var(&c.Rate, "rate", 50, "open model: steps per second (a joined activate + contact info update is one step, two commands)")
	fs.IntVar(&c.Workers, "workers", 8, "closed model: workers; open model: most steps in flight at once")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "length of the measured phase (the setup phase before it is not counted)")
	fs.BoolVar(&c.ExactVersions, "exact-versions", false, "lifecycle and terminate mixes: send the exact expectedVersion the worker believes its customer is at, when it knows it (else ANY)")
	fs.IntVar(&c.Customers, "customers", 0, "customers the setup phase registers and activates (0: workers × 4; hot mix: 2)")
	fs.StringVar(&c.GraphQLURL, "graphql-url", "http://127.0.0.1:8080/graphql", "the gateway's GraphQL URL")
	fs.StringVar(&f.apiKey, "api-key", "", "partner API key (default: $TEXTKIT_API_KEY, else <data-dir>/api-key)")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL (nats target and ceiling)")
	fs.StringVar(&c.NATSUser, "nats-user", "", "NATS user of the nats target (default: the partner's direct publisher, partner-<first 8 hex digits>)")
	fs.StringVar(&f.natsPass, "nats-password", "", "password of -nats-user (default: its TEXTKIT_NATS_PARTNER_PASSWORD, or TEXTKIT_NATS_PARTNER2_PASSWORD for the seed's second partner, from the environment, else <data-dir>/secrets.env)")
	fs.StringVar(&c.PartnerID, "partner", devPartnerID, "the partner the load acts for (the API key's)")
	fs.StringVar(&c.IndustryID, "industry", devIndustryID, "industry of the customers registered")
	fs.DurationVar(&c.MutationTimeout, "mutation-timeout", 10*time.Second, "the gateway's mutation timeout; the nats target waits as long for an outcome")
	fs.DurationVar(&f.ceiling, "ceiling", 0, "measure the ceiling for this long before the load (0: not at all; -mix ceiling: default -duration)")
	fs.IntVar(&c.Ceiling.Clients, "ceiling-clients", load.DefaultCeilingClients, "ceiling: publishing clients")
	fs.IntVar(&c.Ceiling.MessageBytes, "ceiling-bytes", load.DefaultCeilingMessageBytes, "ceiling: message size in bytes")
	fs.StringVar(&f.ceilingUser, "ceiling-user", "provisioner", "ceiling: NATS user that may create a stream")
	fs.StringVar(&f.ceilingPass, "ceiling-password", "", "password of -ceiling-user (default: TEXTKIT_NATS_<USER>_PASSWORD, e.g. TEXTKIT_NATS_PROVISIONER_PASSWORD from the environment, else <data-dir>/secrets.env)")
	fs.StringVar(&f.out, "out", "", "output directory for ledger.jsonl, report.json, report.html (default <data-dir>/load/<UTC time>)")
	fs.StringVar(&f.dataDir, "data-dir", "", "the dev stack's data directory (default $TEXTKIT_DATA_DIR, else .data)")
	fs.DurationVar(&f.progress, "progress", time.Second, "print a progress line this often (0: never)")
	fs.Int64Var(&c.Seed, "seed", 0, "seed of the mixes' random choices (0: from the clock)")
	fs.BoolVar(&f.resources, "resources", true, "report CPU time and RSS over the measured phase of every process with a pid file in <data-dir>/pids (scripts/up.sh's), and the machine's idle share (Linux /proc; skipped when that directory does not exist)")
	if err := fs.Parse(args, stdout); err != nil {
		return load.Config{}, "", err
	}
	return f.resolve(getenv, stdout)
}

// resolve fills the defaults read from the environment and the dev
// stack's data directory, and checks the result.
func (f *loadFlags) resolve(getenv func(string) string, stdout io.Writer) (load.Config, string, error) {
	c := &f.cfg
	if f.dataDir == "" {
		f.dataDir = cmp(getenv("TEXTKIT_DATA_DIR"), ".data")
	}
	if f.out == "" {
		f.out = filepath.Join(f.dataDir, "load", time.Now().UTC().Format("20060102T150405Z"))
	}
	secrets := func(name string) string { return secretFrom(getenv, f.dataDir, name) }
	if c.Mix != load.MixCeiling {
		c.APIKey = cmp(f.apiKey, getenv("TEXTKIT_API_KEY"), readTrimmed(filepath.Join(f.dataDir, "api-key")))
		if c.Target == ledger.ViaNATS {
			c.NATSPassword = cmp(f.natsPass, secrets(natsPasswordVar(cmp(c.NATSUser, load.PartnerUser(c.PartnerID)))))
		}
	}
	if f.progress > 0 {
		c.Progress, c.ProgressInterval = stdout, f.progress
	}
	if pids := filepath.Join(f.dataDir, "pids"); f.resources {
		if st, err := os.Stat(pids); err == nil && st.IsDir() {
			c.PidsDir = pids
		}
	}
	if c.Mix == load.MixCeiling && f.ceiling == 0 {
		f.ceiling = c.Duration
	}
	if f.ceiling > 0 {
		c.Ceiling.Duration, c.Ceiling.NATSURL, c.Ceiling.NATSUser = f.ceiling, c.NATSURL, f.ceilingUser
		c.Ceiling.NATSPassword = cmp(f.ceilingPass, secrets("TEXTKIT_NATS_"+strings.ToUpper(f.ceilingUser)+"_PASSWORD"))
		c.Ceiling.Stream, c.Ceiling.Subject = load.DefaultCeilingStream, load.DefaultCeilingSubject
	}
	check := *c
	check.LedgerPath = "(set below)"
	if err := check.Validate(); err != nil {
		return load.Config{}, "", fmt.Errorf("load: %w (see textkit load -h)", err)
	}
	return *c, f.out, nil
}

// cmp returns the first non-empty value.
func cmp(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// secretFrom returns the variable name from the environment, else from
// the dev stack's secrets.env (written by scripts/secrets.sh), else "".
func secretFrom(getenv func(string) string, dataDir, name string) string {
	if v := getenv(name); v != "" {
		return v
	}
	env, err := service.ReadEnvFile(filepath.Join(dataDir, "secrets.env"))
	if err != nil {
		return ""
	}
	return env[name]
}

// readTrimmed returns a file's trimmed contents, "" when it cannot be read.
func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// printSummary writes the report's main figures and where the files are.
func printSummary(w io.Writer, rep *load.Report, out string) {
	var b strings.Builder
	if rep.Mix != load.MixCeiling {
		fmt.Fprintf(&b, "\n%s via %s, %s model: %d commands in %.1fs (%d setup commands not counted)\n",
			rep.Mix, rep.Target, rep.Model, rep.Commands, rep.MeasuredSeconds, rep.SetupCommands)
		fmt.Fprintf(&b, "throughput  %.1f commands/s\n", rep.Throughput)
		fmt.Fprintf(&b, "answers     APPLIED %d  REJECTED %d  TIMEOUT %d  ERROR %d\n",
			rep.Answers["APPLIED"], rep.Answers["REJECTED"], rep.Answers["TIMEOUT"], rep.Answers["ERROR"])
		codes := slices.Sorted(maps.Keys(rep.ErrorsByCode))
		for _, code := range codes {
			fmt.Fprintf(&b, "  %-24s %d\n", code, rep.ErrorsByCode[code])
		}
		l := rep.Latency
		fmt.Fprintf(&b, "latency ms  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	if c := rep.Ceiling; c != nil {
		fmt.Fprintf(&b, "ceiling     %.1f publishes/s (%d clients, %d bytes, synchronous)", c.Throughput, c.Clients, c.MessageBytes)
		if rep.CeilingRatio > 0 {
			fmt.Fprintf(&b, "; ratio %.3f", rep.CeilingRatio)
		}
		b.WriteString("\n")
	}
	printResources(&b, rep.Resources)
	if rep.Ledger != "" {
		fmt.Fprintf(&b, "ledger      %s\n", rep.Ledger)
	}
	fmt.Fprintf(&b, "report      %s\n            %s\n", filepath.Join(out, load.ReportJSON), filepath.Join(out, load.ReportHTML))
	// the summary for the terminal: a failed write there has nowhere to go
	_, _ = io.WriteString(w, b.String())
}

// printResources writes the CPU and RSS figures of the measured phase.
func printResources(b *strings.Builder, res *load.Resources) {
	if res == nil {
		return
	}
	fmt.Fprintf(b, "cpu         ours %.0f µs/command (%.1f s), stack %.0f µs/command (%.1f s); machine idle %.0f%% of %d cores\n",
		res.OursMicrosPerCommand, res.OursCPUSeconds, res.StackMicrosPerCommand, res.StackCPUSeconds, 100*res.MachineIdleShare, res.Cores)
	for _, p := range res.Processes {
		fmt.Fprintf(b, "  %-16s %7.0f µs/command  cpu %6.1f s (user %.1f, sys %.1f)  rss peak %4.0f MB, final %4.0f MB\n",
			p.Name, p.MicrosPerCommand, p.CPUSeconds, p.UserSeconds, p.SystemSeconds, float64(p.RSSPeakBytes)/1e6, float64(p.RSSFinalBytes)/1e6)
	}
	if len(res.Missing) > 0 {
		fmt.Fprintf(b, "  not measured (no pid file or not running): %s\n", strings.Join(res.Missing, ", "))
	}
}
