package load_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/load"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// config is a short run against s.
func config(s *stacktest.Stack, dir, target, mix string) load.Config {
	return load.Config{
		Target: target, Mix: mix, Model: load.Closed, Workers: 3, Duration: 1500 * time.Millisecond,
		GraphQLURL: s.Gateway.URL + "/graphql", APIKey: s.PartnerKey,
		NATSURL: s.NATS.URL(), NATSPassword: natstest.Passwords[natstest.SeedPartnerUser],
		PartnerID: stacktest.PartnerID, IndustryID: stacktest.IndustryID, MutationTimeout: 10 * time.Second,
		LedgerPath: filepath.Join(dir, load.LedgerFile), Seed: 1,
	}
}

// TestRun runs every mix through both targets against the whole stack and
// checks the ledger against the report and against what the stack holds.
func TestRun(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{MutationTimeout: 10 * time.Second})
	for _, target := range []string{ledger.ViaGraphQL, ledger.ViaNATS} {
		for _, mix := range []string{load.MixRegister, load.MixLifecycle, load.MixTerminate, load.MixHot} {
			t.Run(target+"/"+mix, func(t *testing.T) {
				cfg := config(s, t.TempDir(), target, mix)
				rep, err := load.Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				checkRun(t, s, cfg, rep)
			})
		}
	}
	for _, target := range []string{ledger.ViaGraphQL, ledger.ViaNATS} {
		t.Run(target+"/lifecycle/exact", func(t *testing.T) {
			cfg := config(s, t.TempDir(), target, load.MixLifecycle)
			cfg.ExactVersions = true
			_, recs := runChecked(t, s, cfg)
			exact := 0
			for _, r := range recs {
				if r.ExpectedVersion != nil && r.Answer == ledger.Applied {
					exact++
				}
			}
			if exact == 0 {
				t.Error("no command was applied with an exact expected version")
			}
		})
	}
	t.Run("graphql/lifecycle/open", func(t *testing.T) {
		cfg := config(s, t.TempDir(), ledger.ViaGraphQL, load.MixLifecycle)
		cfg.Model, cfg.Rate, cfg.Workers = load.Open, 40, 4
		rep, recs := runChecked(t, s, cfg)
		// The open model schedules steps at the rate: one every 25 ms.
		var intended []time.Time
		for _, r := range recs {
			if !r.IntendedAt.Before(rep.MeasuredFrom) && !slices.ContainsFunc(intended, r.IntendedAt.Equal) {
				intended = append(intended, r.IntendedAt)
			}
		}
		slices.SortFunc(intended, time.Time.Compare)
		for i := 1; i < len(intended); i++ {
			if d := intended[i].Sub(intended[i-1]); d < 24*time.Millisecond || d > 26*time.Millisecond {
				t.Fatalf("steps intended %v apart, want 25ms", d)
			}
		}
	})
	// Until moves the end of the measured phase past Duration; both
	// models go on sending until then.
	for _, model := range []string{load.Closed, load.Open} {
		t.Run("nats/lifecycle/until/"+model, func(t *testing.T) {
			cfg := config(s, t.TempDir(), ledger.ViaNATS, load.MixLifecycle)
			cfg.Model, cfg.Duration = model, 300*time.Millisecond
			if model == load.Open {
				cfg.Rate = 40
			}
			var mu sync.Mutex
			var until time.Time
			cfg.Measuring = func(start time.Time) {
				mu.Lock()
				defer mu.Unlock()
				until = start.Add(2 * time.Second)
			}
			cfg.Until = func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				return until
			}
			_, recs := runChecked(t, s, cfg)
			var last time.Time
			for _, r := range recs {
				if r.IntendedAt.After(last) {
					last = r.IntendedAt
				}
			}
			if last.Before(until.Add(-500 * time.Millisecond)) {
				t.Errorf("last step intended at %s, %s before Until's %s", last.Format(time.StampMilli), until.Sub(last), until.Format(time.StampMilli))
			}
			// A step started before Until may send its last command after it.
			if last.After(until.Add(time.Second)) {
				t.Errorf("a command intended at %s, long after Until's %s", last.Format(time.StampMilli), until.Format(time.StampMilli))
			}
		})
	}
}

// runChecked runs cfg's load, checks it (checkRun) and returns its report
// and its ledger's records.
func runChecked(t *testing.T, s *stacktest.Stack, cfg load.Config) (*load.Report, []ledger.Record) {
	t.Helper()
	rep, err := load.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, s, cfg, rep)
	_, recs, err := ledger.Read(cfg.LedgerPath)
	if err != nil {
		t.Fatal(err)
	}
	return rep, recs
}

// checkRun checks the report against the ledger and the ledger against
// the stack.
func checkRun(t *testing.T, s *stacktest.Stack, cfg load.Config, rep *load.Report) {
	t.Helper()
	h, recs, err := ledger.Read(cfg.LedgerPath)
	if err != nil {
		t.Fatal(err)
	}
	if h.Target != cfg.Target || h.Mix != cfg.Mix || h.PartnerID != cfg.PartnerID || h.MutationTimeout.Duration != cfg.MutationTimeout {
		t.Errorf("ledger header %+v does not describe the run", h)
	}
	t.Logf("%s/%s: %d setup, %d measured, %.0f/s, answers %v, errors %v, p99 %.1fms", cfg.Target, cfg.Mix, rep.SetupCommands, rep.Commands, rep.Throughput, rep.Answers, rep.ErrorsByCode, rep.Latency.P99)
	checkCounts(t, rep, recs)
	byCustomer := map[string][]ledger.Record{}
	for _, r := range recs {
		byCustomer[r.CustomerID] = append(byCustomer[r.CustomerID], r)
	}
	for id, rs := range byCustomer {
		checkCustomer(t, s, id, rs)
	}
}

// checkCounts: the report counts exactly the ledger's measured records.
func checkCounts(t *testing.T, rep *load.Report, recs []ledger.Record) {
	t.Helper()
	if len(recs) != rep.Commands+rep.SetupCommands {
		t.Errorf("ledger has %d records, report %d measured + %d setup", len(recs), rep.Commands, rep.SetupCommands)
	}
	answers, codes, seqs := map[string]int{}, map[string]int{}, map[int64]bool{}
	measured := 0
	for _, r := range recs {
		if seqs[r.Seq] {
			t.Errorf("seq %d twice", r.Seq)
		}
		seqs[r.Seq] = true
		if r.IntendedAt.Before(rep.MeasuredFrom) {
			continue
		}
		measured++
		answers[string(r.Answer)]++
		if r.Answer != ledger.Applied {
			codes[r.Code]++
		}
	}
	if measured != rep.Commands || measured == 0 {
		t.Errorf("%d measured records in the ledger, report says %d", measured, rep.Commands)
	}
	for _, a := range ledger.Answers {
		if answers[string(a)] != rep.Answers[string(a)] {
			t.Errorf("%s: ledger %d, report %d", a, answers[string(a)], rep.Answers[string(a)])
		}
	}
	if answers[string(ledger.Applied)] == 0 {
		t.Errorf("nothing applied in the measured phase: %+v", rep.ErrorsByCode)
	}
	for c, n := range codes {
		if rep.ErrorsByCode[c] != n {
			t.Errorf("code %s: ledger %d, report %d", c, n, rep.ErrorsByCode[c])
		}
	}
	if rep.Latency.Count != int64(rep.Commands) {
		t.Errorf("latency count %d, commands %d", rep.Latency.Count, rep.Commands)
	}
	sum := 0
	for _, p := range rep.Timeline {
		sum += p.Commands
	}
	if sum != rep.Commands {
		t.Errorf("timeline holds %d commands, report %d", sum, rep.Commands)
	}
}

const historyQuery = `query($id: ID!) { customer(id: $id) { version history { version event commandId } } }`

type history struct {
	Customer *struct {
		Version int64 `json:"version"`
		History []struct {
			Version   int64  `json:"version"`
			Event     string `json:"event"`
			CommandID string `json:"commandId"`
		} `json:"history"`
	} `json:"customer"`
}

// checkCustomer: the customer's history holds every command the ledger
// says was applied, once, in the order sent (unless sent unordered), and
// none it says failed.
func checkCustomer(t *testing.T, s *stacktest.Stack, id string, rs []ledger.Record) {
	t.Helper()
	resp := s.Do(s.OperatorKey, historyQuery, map[string]any{"id": id})
	var h history
	if err := json.Unmarshal(resp.Data["customer"], &h.Customer); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("customer %s: %s", id, resp.Raw)
	}
	slices.SortFunc(rs, func(a, b ledger.Record) int { return int(a.Seq - b.Seq) })
	var applied []string
	inHistory := map[string]bool{}
	ordered, timeouts := true, 0
	if h.Customer != nil {
		for _, e := range h.Customer.History {
			inHistory[e.CommandID] = true
		}
	}
	for _, r := range rs {
		ordered = ordered && r.Ordered
		switch r.Answer {
		case ledger.Applied:
			if r.Ordered && r.ExpectedVersion != nil && timeouts == 0 && *r.ExpectedVersion != int64(len(applied)) {
				t.Errorf("customer %s: seq %d applied at expected version %d, but %d commands were applied before it", id, r.Seq, *r.ExpectedVersion, len(applied))
			}
			applied = append(applied, string(command.EventOf(r.Type.Command())))
			if r.CommandID != "" && !inHistory[r.CommandID] {
				t.Errorf("customer %s: applied command %s (seq %d) is not in its history", id, r.CommandID, r.Seq)
			}
		case ledger.Timeout:
			timeouts++
		default:
			if r.CommandID != "" && inHistory[r.CommandID] {
				t.Errorf("customer %s: command %s answered %s %s is in its history", id, r.CommandID, r.Answer, r.Code)
			}
		}
	}
	var events []string
	if h.Customer != nil {
		for _, e := range h.Customer.History {
			events = append(events, e.Event)
		}
	}
	if timeouts > 0 {
		if len(events) < len(applied) || len(events) > len(applied)+timeouts {
			t.Errorf("customer %s: %d events, %d applied and %d timed out in the ledger", id, len(events), len(applied), timeouts)
		}
		return
	}
	if !ordered {
		slices.Sort(events)
		slices.Sort(applied)
	}
	if !slices.Equal(events, applied) {
		t.Errorf("customer %s: history %v, ledger applied %v", id, events, applied)
	}
}

// TestCeiling measures the ceiling on the stack's NATS with the
// provisioner's user, and leaves no stream behind.
func TestCeiling(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	cfg := config(s, t.TempDir(), ledger.ViaNATS, load.MixLifecycle)
	cfg.Ceiling = load.CeilingConfig{
		Duration: time.Second, Clients: 2, MessageBytes: load.DefaultCeilingMessageBytes,
		NATSURL: s.NATS.URL(), NATSUser: "provisioner", NATSPassword: natstest.Passwords["provisioner"],
		Stream: load.DefaultCeilingStream, Subject: load.DefaultCeilingSubject,
	}
	rep, err := load.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Ceiling
	if c == nil || c.Messages == 0 || c.Throughput <= 0 || c.Latency.Count != c.Messages || c.Clients != 2 || c.MessageBytes != 400 {
		t.Fatalf("ceiling %+v", c)
	}
	if want := rep.Throughput / c.Throughput; rep.CeilingRatio != want || want <= 0 {
		t.Errorf("ratio %v, want %v", rep.CeilingRatio, want)
	}
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(context.Background(), load.DefaultCeilingStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the ceiling's stream is still there (err %v)", err)
	}
	cfg.Mix = load.MixCeiling
	rep, err = load.Run(context.Background(), cfg)
	if err != nil || rep.Ceiling == nil || rep.Commands != 0 {
		t.Fatalf("ceiling only: %+v, %v", rep, err)
	}
}

// TestRateLimited: a gateway that throttles the partner answers 429
// RATE_LIMITED; the tool reports those as errors by code (not applied),
// and retries them only in the setup phase, so the pool is complete.
func TestRateLimited(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{MutationTimeout: 10 * time.Second,
		RateLimits: &gateway.RateLimits{PartnerRate: 10, PartnerBurst: 4, OperatorRate: 1000, OperatorBurst: 1000}})
	cfg := config(s, t.TempDir(), ledger.ViaGraphQL, load.MixLifecycle)
	cfg.Customers = 6
	rep, err := load.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, s, cfg, rep)
	if rep.ErrorsByCode["RATE_LIMITED"] == 0 || rep.Answers[string(ledger.Error)] < rep.ErrorsByCode["RATE_LIMITED"] {
		t.Errorf("no RATE_LIMITED errors reported: %+v", rep)
	}
	_, recs, err := ledger.Read(cfg.LedgerPath)
	if err != nil {
		t.Fatal(err)
	}
	activated := map[string]bool{}
	for _, r := range recs {
		if r.IntendedAt.Before(rep.MeasuredFrom) && r.Type == ledger.Activate && r.Answer == ledger.Applied {
			activated[r.CustomerID] = true
		}
	}
	if len(activated) != cfg.Customers {
		t.Errorf("setup activated %d of %d customers", len(activated), cfg.Customers)
	}
}
