// Package stacktest runs the whole system in one test process against the
// real services: an embedded NATS server configured from deploy/nats, a
// redis-server, a Vault dev server, the Twilio emulator, a provisioner, a
// key keeper standing in for retention where a test does not start it, and
// the GraphQL gateway on a loopback port.
package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/telemetry"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/twilio/emulator"
	"github.com/textkit/customers/internal/twilio/twiliotest"
	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

// The docs' reference data, seeded into every stack.
const (
	PartnerID      = natstest.SeedPartnerID
	IndustryID     = "e4c81004-1a4c-477f-97e3-b67022e9a351"
	OtherPartnerID = natstest.SecondPartnerID // the seed's second partner, with its own NATS user
)

// Stack is a running system.
type Stack struct {
	T    testing.TB
	NATS *natstest.Server
	// Redis and RDB are the single redis-server and a client of it; nil
	// with Options.RedisCluster.
	Redis *testenv.Redis
	RDB   *redis.Client
	// RedisCluster is the Redis Cluster with Options.RedisCluster, else nil.
	RedisCluster *redistest.Cluster
	Store        *redisstore.Store
	Twilio       *twiliotest.Server
	Vault        *vaulttest.Server
	Tokens       vault.ServiceTokens
	Gateway      *httptest.Server
	// PartnerKey, OtherPartnerKey and OperatorKey are API keys.
	PartnerKey, OtherPartnerKey, OperatorKey string
	// Logs collects every service's JSON log lines.
	Logs *testenv.Buffer
	// TwilioStateFile is the file the Twilio emulator keeps its accounts
	// in (Options.TwilioState); "" when none.
	TwilioStateFile string
}

// Options change what Start runs.
type Options struct {
	// NoProvisioner leaves the provisioner out (start replicas with StartProvisioner).
	NoProvisioner bool
	// NoKeyKeeper leaves out the stand-in for retention that creates each
	// registered customer's key (a test that runs real retention sets it).
	NoKeyKeeper bool
	// Retention runs the real retention service (and no key keeper).
	Retention bool
	// MutationTimeout of the gateway; default 10s.
	MutationTimeout time.Duration
	// RateLimits of the gateway; default: high enough never to matter, so
	// tests and benchmarks measure the system, not the limiter.
	RateLimits *gateway.RateLimits
	// TwilioState has the Twilio emulator keep its accounts in a state
	// file, as in the dev stack (off by default: the emulator rewrites the
	// whole file on every change, which would weigh on benchmarks).
	TwilioState bool
	// RedisCluster runs a Redis Cluster of three masters with a replica
	// each (redistest.StartCluster) instead of a single redis-server.
	RedisCluster bool
}

// Start runs a stack for t. A package using it must run its tests through
// vaulttest.Main (TestMain).
func Start(t testing.TB, opt Options) *Stack {
	t.Helper()
	s := &Stack{T: t, Logs: &testenv.Buffer{}}
	s.NATS = natstest.Start(t)
	if opt.RedisCluster {
		var rdb *redis.ClusterClient
		rdb, s.RedisCluster = redistest.StartCluster(t)
		rdb.AddHook(telemetry.RedisHook{}) // as redisstore.Connect does
		s.Store = redisstore.New(rdb)
	} else {
		s.RDB, s.Redis = redistest.Start(t)
		s.RDB.AddHook(telemetry.RedisHook{}) // as redisstore.Connect does
		s.Store = redisstore.New(s.RDB)
	}
	if opt.TwilioState {
		s.TwilioStateFile = filepath.Join(t.TempDir(), "twilio-state.json")
	}
	s.Twilio = twiliotest.NewServer(t, emulator.Config{StateFile: s.TwilioStateFile})
	s.Vault = vaulttest.Shared(t)
	s.Tokens = s.Vault.Bootstrap(t)
	ctx := context.Background()
	for _, p := range []redisstore.Partner{{ID: PartnerID, Name: "Docs partner"}, {ID: OtherPartnerID, Name: "Other partner"}} {
		if err := s.Store.PutPartner(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store.PutIndustry(ctx, redisstore.Industry{ID: IndustryID, Name: "Retail"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var err error
	if _, s.PartnerKey, err = access.Issue(ctx, s.Store, "docs partner", access.RolePartner, PartnerID, now); err != nil {
		t.Fatal(err)
	}
	if _, s.OtherPartnerKey, err = access.Issue(ctx, s.Store, "other partner", access.RolePartner, OtherPartnerID, now); err != nil {
		t.Fatal(err)
	}
	if _, s.OperatorKey, err = access.Issue(ctx, s.Store, "ops", access.RoleOperator, "", now); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	switch {
	case opt.Retention:
		s.StartRetention(t)
	case !opt.NoKeyKeeper:
		s.keepKeys(js)
	}
	if !opt.NoProvisioner {
		s.StartProvisioner(t)
	}
	s.startGateway(opt)
	return s
}

// Logger returns a JSON logger into s.Logs (and stderr with TEXTKIT_TEST_LOG=1).
func (s *Stack) Logger() *slog.Logger {
	var w io.Writer = s.Logs
	if os.Getenv("TEXTKIT_TEST_LOG") != "" {
		w = io.MultiWriter(w, os.Stderr)
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// keepKeys plays retention's first duty: create each registered customer's key.
func (s *Stack) keepKeys(js jetstream.JetStream) {
	t := s.T
	vc := s.Vault.Client(t, s.Tokens.Retention)
	oc, err := js.OrderedConsumer(context.Background(), natsbus.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := oc.Consume(func(m jetstream.Msg) {
		var e command.Event
		if json.Unmarshal(m.Data(), &e) == nil && e.Type == command.Registered {
			if err := vc.CreateKey(context.Background(), e.CustomerID); err != nil {
				t.Errorf("stacktest: create key: %v", err)
			}
			_ = s.Store.SetKeyStatus(context.Background(), e.CustomerID, keys.Record{State: keys.Active})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
}

// ProvisionerConfig is the configuration a provisioner replica gets.
func (s *Stack) ProvisionerConfig(t testing.TB) provisioner.Config {
	conn := s.NATS.Connect(t, "provisioner")
	pub, err := natsbus.NewPublisher(conn)
	if err != nil {
		t.Fatal(err)
	}
	tw, err := twilio.New(twilio.Config{AccountSID: s.Twilio.AccountSID(), AuthToken: s.Twilio.AuthToken(), BaseURL: s.Twilio.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return provisioner.Config{
		Store: s.Store, Twilio: tw, Keys: s.Vault.Client(t, s.Tokens.Provisioner), Publisher: pub,
		Logger:  s.Logger().With("service", "provisioner"),
		KeyWait: 2 * time.Second,
	}
}

// StartProvisioner runs one provisioner replica until the returned stop
// is called or the test ends. Its AckWait is short, so a stopped replica's
// in-flight command is soon redelivered to another.
func (s *Stack) StartProvisioner(t testing.TB, mutate ...func(*provisioner.Config)) (stop func()) {
	t.Helper()
	cfg := s.ProvisionerConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := provisioner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s.run(t, "provisioner", func(ctx context.Context, conn *nats.Conn, running chan<- struct{}) error {
		return p.Run(ctx, provisioner.RunConfig{
			Conn: conn, AckWait: 3 * time.Second, Running: running,
			Redelivery:   natsbus.Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond},
			CloseTimeout: 2 * time.Second,
		})
	})
}

// run runs a service replica as user on a connection of its own until the
// returned stop is called or the test ends.
func (s *Stack) run(t testing.TB, user string, run func(ctx context.Context, conn *nats.Conn, running chan<- struct{}) error) (stop func()) {
	t.Helper()
	conn, err := nats.Connect(s.NATS.URL(), nats.UserInfo(user, natstest.Passwords[user]))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- run(ctx, conn, running) }()
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("%s stopped at start: %v", user, err)
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not start", user)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done: //nolint:errcheck // after cancel the consumer returns the cancellation: expected
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not stop", user)
			}
			conn.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// StartRetention runs a retention replica until the returned stop is
// called or the test ends. It sweeps every 200ms, so due keys go quickly.
func (s *Stack) StartRetention(t testing.TB, mutate ...func(*retention.Config)) (stop func()) {
	t.Helper()
	pub, err := natsbus.NewPublisher(s.NATS.Connect(t, "retention"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := retention.Config{
		Store: s.Store, Keys: s.Vault.Client(t, s.Tokens.Retention), Publisher: pub,
		Logger: s.Logger().With("service", "retention"), SweepInterval: 200 * time.Millisecond,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	svc, err := retention.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s.run(t, "retention", func(ctx context.Context, conn *nats.Conn, running chan<- struct{}) error {
		return svc.Run(ctx, retention.RunConfig{Conn: conn, AckWait: 5 * time.Second, Running: running,
			Redelivery: natsbus.Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond}, CloseTimeout: 2 * time.Second})
	})
}

func (s *Stack) startGateway(opt Options) {
	t := s.T
	limits := gateway.RateLimits{PartnerRate: 1e9, PartnerBurst: 1 << 30, OperatorRate: 1e9, OperatorBurst: 1 << 30,
		UnauthenticatedRate: 1e9, UnauthenticatedBurst: 1 << 30}
	if opt.RateLimits != nil {
		limits = *opt.RateLimits
	}
	nc := s.NATS.Connect(t, "gateway")
	outcomes, err := gateway.NewOutcomes(nc, s.Store)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := natsbus.NewCommandPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{
		Store: s.Store, Publisher: pub, Outcomes: outcomes, Keys: s.Vault.Client(t, s.Tokens.Gateway),
		Logger:          s.Logger().With("service", "gateway"),
		IsKeyMissing:    func(err error) bool { return errorsIs(err, vault.ErrKeyNotFound) },
		MutationTimeout: opt.MutationTimeout, KeyWait: 5 * time.Second,
		RateLimits: limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", gw.Handler())
	s.Gateway = httptest.NewServer(mux)
	t.Cleanup(s.Gateway.Close)
}

// Response is a GraphQL response.
type Response struct {
	Status int
	Header http.Header
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Raw []byte
}

// Do posts a GraphQL query with an API key and optional extra headers
// (name, value pairs).
func (s *Stack) Do(key, query string, vars map[string]any, headers ...string) *Response {
	s.T.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.Gateway.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.T.Fatalf("graphql request: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if err := json.Unmarshal(raw, r); err != nil {
		s.T.Fatalf("graphql response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return r
}
