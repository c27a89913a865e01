// Package load drives load against TextKit Customers through GraphQL or
// directly onto NATS, writes every command it sends to a ledger
// (internal/ledger), and reports throughput, errors by code and latency
// from an HDR histogram, as JSON and as a self-contained HTML page. It can
// also measure the "ceiling": synchronous JetStream publishes on the
// stack's own nats-server. docs/load.md describes it for people;
// `textkit load` is its command line.
package load

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/ledger"
)

// Mixes: what commands a run sends.
const (
	// MixRegister is registration-heavy: three of four steps register a
	// new customer, the fourth activates one the worker registered.
	MixRegister = "register"
	// MixLifecycle deactivates, and activates with a contact info update
	// (joined, as the docs join them), existing customers, plus contact
	// info updates on their own.
	MixLifecycle = "lifecycle"
	// MixTerminate terminates customers, cycling through the retention
	// strategies (NO_RETENTION, TEMPORARY, INDEFINITE).
	MixTerminate = "terminate"
	// MixHot sends many commands to a few customers from every worker at
	// once (ledger records with ordered=false).
	MixHot = "hot"
	// MixCeiling sends no commands: it only measures the ceiling.
	MixCeiling = "ceiling"
)

// Mixes lists every mix.
var Mixes = []string{MixRegister, MixLifecycle, MixTerminate, MixHot, MixCeiling}

// Models: how requests are paced.
const (
	// Open sends steps at a constant arrival rate, whether or not earlier
	// ones were answered; latency counts from each step's intended time.
	Open = "open"
	// Closed runs Workers workers, each sending its next step as soon as
	// the previous one is answered.
	Closed = "closed"
)

// Config is one load run.
type Config struct {
	// Target is ledger.ViaGraphQL or ledger.ViaNATS.
	Target string
	// Mix is one of Mixes.
	Mix string
	// Model is Open or Closed.
	Model string
	// Rate is the open model's steps per second.
	Rate float64
	// Workers is the closed model's number of workers, and the open
	// model's most steps in flight at once.
	Workers int
	// Duration is the length of the measured phase.
	Duration time.Duration
	// ExactVersions sends each command of the lifecycle and terminate
	// mixes with the exact version the worker believes its customer is
	// at (expectedVersion), when it knows it: from the register answer,
	// then one up per command applied, until an answer leaves it unknown
	// (TIMEOUT, VERSION_CONFLICT). Otherwise every command says ANY.
	ExactVersions bool
	// Customers is how many customers the setup phase registers (and
	// activates) for the lifecycle, terminate and hot mixes; 0: a default
	// per mix (workers × 4; hot: 2).
	Customers int
	// SpreadPartitions draws the setup's i-th customer id in command
	// partition i mod 16 (natsbus.PartitionOf), so that a pool of 16
	// customers or more has some in every partition.
	SpreadPartitions bool

	GraphQLURL string
	APIKey     string
	NATSURL    string
	// NATSUser defaults to the partner's direct publisher (PartnerUser).
	NATSUser     string
	NATSPassword string
	PartnerID    string
	IndustryID   string
	// MutationTimeout is the gateway's; the NATS target waits as long
	// for an outcome.
	MutationTimeout time.Duration

	// LedgerPath is where the ledger is written; required.
	LedgerPath string
	// Progress receives a progress line every ProgressInterval (nil: none).
	Progress         io.Writer
	ProgressInterval time.Duration
	// Ceiling, when its Duration is set, is measured before the load.
	Ceiling CeilingConfig
	// Seed seeds the mixes' random choices (0: from the clock).
	Seed int64
	// Republish (NATS target only) publishes each command twice at once
	// under its Nats-Msg-Id (JetStream drops the second as a duplicate),
	// and once more after its answer without Nats-Msg-Id, as a publish
	// after JetStream's 10-minute de-duplication window would be: stored
	// and delivered again, the provisioner must recognise the command id
	// and answer its first outcome again (docs/commands.md). That answer
	// is a second ledger record of the same command.
	Republish bool
	// Measuring, when set, is called once when the measured phase starts
	// (the setup phase is over), with its start time.
	Measuring func(time.Time)
	// Until, when set, can make the measured phase longer than Duration:
	// it goes on until the time Until returns (asked again as the phase
	// goes on, so a caller can move it), or its context ends. The chaos
	// runner keeps its load going until a while after the fault's end,
	// however long the fault takes to end.
	Until func() time.Time
	// PidsDir, when set, is the stack's pid directory (scripts/up.sh's
	// <data dir>/pids): the CPU and memory of the processes found there
	// are measured over the measured phase (Report.Resources).
	PidsDir string
	// ProcDir is where /proc is ("" is /proc).
	ProcDir string
}

func (c *Config) procDir() string {
	if c.ProcDir == "" {
		return "/proc"
	}
	return c.ProcDir
}

// concurrency is how many steps may be in flight at once.
func (c *Config) concurrency() int { return max(c.Workers, 1) }

// customers is the setup phase's pool size.
func (c *Config) customers() int {
	switch {
	case c.Customers > 0:
		return c.Customers
	case c.Mix == MixHot:
		return 2
	case c.Mix == MixRegister:
		return 0
	}
	return c.concurrency() * 4
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !slices.Contains(Mixes, c.Mix) {
		add("mix %q: want one of %v", c.Mix, Mixes)
	}
	if c.Mix == MixCeiling {
		if c.Ceiling.Duration <= 0 {
			add("the ceiling mix needs a ceiling duration")
		}
		return errors.Join(append(errs, c.Ceiling.validate())...)
	}
	errs = append(errs, c.validateLoad()...)
	if c.Ceiling.Duration > 0 {
		errs = append(errs, c.Ceiling.validate())
	}
	return errors.Join(errs...)
}

func (c *Config) validateLoad() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Target {
	case ledger.ViaGraphQL:
		if u, err := url.Parse(c.GraphQLURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("graphql url %q: want http://host:port/graphql", c.GraphQLURL)
		}
		if c.APIKey == "" {
			add("an API key is required for the graphql target")
		}
	case ledger.ViaNATS:
		if u, err := url.Parse(c.NATSURL); err != nil || u.Host == "" {
			add("nats url %q: want nats://host:port", c.NATSURL)
		}
		if c.NATSPassword == "" {
			add("the partner's NATS password is required for the nats target")
		}
	default:
		add("target %q: want %s or %s", c.Target, ledger.ViaGraphQL, ledger.ViaNATS)
	}
	switch c.Model {
	case Open:
		if c.Rate <= 0 {
			add("the open model needs a rate above 0 (steps per second), got %v", c.Rate)
		}
	case Closed:
	default:
		add("model %q: want %s or %s", c.Model, Open, Closed)
	}
	if c.Workers < 1 {
		add("workers %d: want at least 1", c.Workers)
	}
	if c.Duration <= 0 {
		add("duration %v: want a positive duration", c.Duration)
	}
	if c.Republish && c.Target != ledger.ViaNATS {
		add("republish publishes onto NATS: it needs the %s target", ledger.ViaNATS)
	}
	if c.Customers < 0 {
		add("customers %d: want 0 (the mix's default) or more", c.Customers)
	}
	if c.MutationTimeout <= 0 {
		add("mutation timeout %v: want a positive duration", c.MutationTimeout)
	}
	for name, id := range map[string]string{"partner id": c.PartnerID, "industry id": c.IndustryID} {
		if _, err := uuid.Parse(id); err != nil {
			add("%s %q is not a UUID", name, id)
		}
	}
	if c.LedgerPath == "" {
		add("a ledger path is required")
	}
	if c.Progress != nil && c.ProgressInterval <= 0 {
		add("progress interval %v: want a positive duration", c.ProgressInterval)
	}
	return errs
}
