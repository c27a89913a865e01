// Command gateway serves the GraphQL API: it validates mutations, publishes
// commands to JetStream, waits for their outcomes and reads customers from
// Redis (decrypting contact info through Vault).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/gateway/ide"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/vault"
)

func main() { service.Main("gateway", run) }

// run is the gateway: its configuration, its dependencies, the gateway
// itself, then serving until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	d, err := service.Open(ctx, cfg.common, stderr, "")
	if err != nil {
		return err
	}
	gw, err := newGateway(d, cfg)
	if err != nil {
		d.Close()
		return err
	}
	return serve(ctx, d, cfg, gw)
}

// config is the gateway's checked configuration.
type config struct {
	common          *service.Common
	dev             bool
	mutationTimeout time.Duration
	keyWait         time.Duration
	limits          gateway.Limits
	rates           gateway.RateLimits
}

// parseConfig reads the flags (and their TEXTKIT_ environment variables)
// and checks them, each problem in one line that names the variable.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (*config, error) {
	fs := service.NewFlags("gateway", getenv)
	c := fs.Common("gateway", "127.0.0.1:8080", "address of /graphql (and /ide in the dev profile)", "the gateway's: encrypt and decrypt only").WithOps(fs, "127.0.0.1:9100")
	timeout := fs.Duration("mutation-timeout", 10*time.Second, "bound of one mutation: its checks, the publish of its command and the wait for the outcome")
	keyWait := fs.Duration("key-wait", 10*time.Second, "how long a contact info update waits for a new customer's key")
	dev := fs.Bool("dev", false, "dev profile: introspection, field suggestions and the GraphQL IDE at /ide on")
	maxBody := fs.Int("max-body-bytes", gateway.DefaultMaxBodyBytes, "largest request body (POST) or query string (GET), in bytes")
	maxTokens := fs.Int("max-tokens", gateway.DefaultMaxTokens, "most GraphQL tokens in a query")
	maxDepth := fs.Int("max-depth", gateway.DefaultMaxDepth, "deepest nesting of selections")
	maxAliases := fs.Int("max-aliases", gateway.DefaultMaxAliases, "most aliases in an operation")
	maxFields := fs.Int("max-fields", gateway.DefaultMaxFields, "most fields an operation selects, fragments counted where spread")
	maxComplexity := fs.Int("max-complexity", gateway.DefaultMaxComplexity, "highest operation complexity (a field costs 1, customers(first: n) n times its selection)")
	maxMutations := fs.Int("max-mutations", gateway.DefaultMaxMutations, "most mutation fields in one request")
	requestTimeout := fs.Duration("request-timeout", 0, "bound of a whole request; 0: max-mutations × mutation-timeout + 10s")
	rateLimit := fs.Int("rate-limit", gateway.DefaultPartnerRate, "requests per second per partner (all its keys together), shared by every gateway replica (in Redis)")
	rateBurst := fs.Int("rate-burst", gateway.DefaultPartnerBurst, "burst of requests per partner above the rate")
	opRateLimit := fs.Int("operator-rate-limit", gateway.DefaultOperatorRate, "requests per second per operator key, shared by every gateway replica (in Redis)")
	opRateBurst := fs.Int("operator-rate-burst", gateway.DefaultOperatorBurst, "burst of requests per operator key above the rate")
	unauthRate := fs.Int("unauthenticated-rate-limit", gateway.DefaultUnauthenticatedRate, "requests per second without a valid API key per client address, per gateway replica")
	unauthBurst := fs.Int("unauthenticated-rate-burst", gateway.DefaultUnauthenticatedBurst, "burst of requests without a valid API key per client address")
	if err := fs.Parse(args, stdout); err != nil {
		return nil, err
	}
	if _, err := service.NewLogger(io.Discard, *c.LogLevel, "gateway"); err != nil {
		return nil, err
	}
	if *timeout <= 0 || *timeout > 5*time.Minute {
		return nil, fmt.Errorf("TEXTKIT_MUTATION_TIMEOUT=%s must be between 1ms and 5m", *timeout)
	}
	if err := atLeastOne([]namedInt{
		{"MAX_BODY_BYTES", *maxBody}, {"MAX_TOKENS", *maxTokens}, {"MAX_DEPTH", *maxDepth}, {"MAX_ALIASES", *maxAliases},
		{"MAX_FIELDS", *maxFields}, {"MAX_COMPLEXITY", *maxComplexity}, {"MAX_MUTATIONS", *maxMutations},
		{"RATE_LIMIT", *rateLimit}, {"RATE_BURST", *rateBurst}, {"OPERATOR_RATE_LIMIT", *opRateLimit}, {"OPERATOR_RATE_BURST", *opRateBurst},
		{"UNAUTHENTICATED_RATE_LIMIT", *unauthRate}, {"UNAUTHENTICATED_RATE_BURST", *unauthBurst},
	}); err != nil {
		return nil, err
	}
	if *requestTimeout < 0 {
		return nil, fmt.Errorf("TEXTKIT_REQUEST_TIMEOUT=%s must not be negative (0: automatic)", *requestTimeout)
	}
	cfg := &config{
		common: c, dev: *dev, mutationTimeout: *timeout, keyWait: *keyWait,
		limits: gateway.Limits{
			MaxBodyBytes: *maxBody, MaxTokens: *maxTokens, MaxDepth: *maxDepth, MaxAliases: *maxAliases, MaxFields: *maxFields,
			MaxComplexity: *maxComplexity, MaxMutations: *maxMutations, RequestTimeout: *requestTimeout,
		},
		rates: gateway.RateLimits{
			PartnerRate: float64(*rateLimit), PartnerBurst: *rateBurst, OperatorRate: float64(*opRateLimit), OperatorBurst: *opRateBurst,
			UnauthenticatedRate: float64(*unauthRate), UnauthenticatedBurst: *unauthBurst,
		},
	}
	if err := cfg.limits.Validate(cfg.mutationTimeout); err != nil {
		return nil, fmt.Errorf("%w (TEXTKIT_REQUEST_TIMEOUT, TEXTKIT_MUTATION_TIMEOUT, TEXTKIT_MAX_MUTATIONS)", err)
	}
	return cfg, nil
}

// namedInt is a setting's value under its TEXTKIT_ name, without the prefix.
type namedInt struct {
	name string
	v    int
}

// atLeastOne names the first of limits below 1.
func atLeastOne(limits []namedInt) error {
	for _, l := range limits {
		if l.v < 1 {
			return fmt.Errorf("TEXTKIT_%s=%d must be at least 1", l.name, l.v)
		}
	}
	return nil
}

// newGateway builds the gateway on d: the outcome subscription, the
// command publisher and the GraphQL gateway itself.
func newGateway(d *service.Deps, cfg *config) (*gateway.Gateway, error) {
	nc := d.NATS[0]
	outcomes, err := gateway.NewOutcomes(nc, d.Store)
	if err != nil {
		return nil, fmt.Errorf("subscribe to outcomes: %w", err)
	}
	pub, err := natsbus.NewCommandPublisher(nc)
	if err != nil {
		return nil, err
	}
	return gateway.New(gateway.Config{
		Store: d.Store, Publisher: pub, Outcomes: outcomes, Keys: d.Vault, Logger: d.Log,
		IsKeyMissing:    func(err error) bool { return errors.Is(err, vault.ErrKeyNotFound) },
		MutationTimeout: cfg.mutationTimeout, KeyWait: cfg.keyWait, Dev: cfg.dev, Limits: cfg.limits, RateLimits: cfg.rates,
	})
}

// serve adds the command stream's readiness check and the gateway's
// routes to d's API server and runs it until ctx ends. The API's write
// timeout outlasts the request timeout, so a request is answered (TIMEOUT)
// before the server would cut it off.
func serve(ctx context.Context, d *service.Deps, cfg *config, gw *gateway.Gateway) error {
	js, err := jetstream.New(d.NATS[0])
	if err != nil {
		d.Close()
		return err
	}
	d.Ops.AddCheck("command-stream", func(ctx context.Context) error {
		return natsbus.CheckStream(ctx, js, natsbus.CommandStream)
	})
	d.APITimeouts = service.Timeouts{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: cfg.limits.RequestTimeout + 10*time.Second, Idle: 2 * time.Minute}
	d.API.Handle("/graphql", gw.Handler())
	banner := "TextKit Customers GraphQL API: POST /graphql with Authorization: Bearer <api key>\n"
	if cfg.dev {
		h := ide.Handler()
		d.API.Handle("GET /ide", h)
		d.API.Handle("GET "+ide.Path, h)
		banner += "Dev profile: a GraphQL IDE at " + ide.Path + "\n"
	}
	d.API.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// a failed write means the client has gone: nothing to report it to
		_, _ = io.WriteString(w, banner)
	})
	d.Log.Info("gateway starting", "graphql", "http://"+*cfg.common.HTTPAddr+"/graphql", "ops", "http://"+*cfg.common.OpsAddr, "dev", cfg.dev)
	return d.Run(ctx)
}
