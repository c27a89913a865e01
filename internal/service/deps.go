package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/telemetry"
	"github.com/textkit/customers/internal/vault"
)

// Common are the settings every service takes: where it listens, how it
// logs, and how it reaches NATS, Redis and Vault.
type Common struct {
	name     string
	HTTPAddr *string
	// OpsAddr, when set (WithOps), is where the operations endpoints
	// listen, apart from the service's API on HTTPAddr.
	OpsAddr       *string
	NATSURL       *string
	NATSUser      *string
	NATSPassword  *string
	RedisAddr     *string
	RedisPassword *string
	RedisUnsafe   *bool
	// RedisMinReplicaAcks is how many replicas confirm each durable
	// write (redisstore.ParseMinReplicaAcks): auto or a number.
	RedisMinReplicaAcks *string
	VaultAddr           *string
	VaultToken          *string
	LogLevel            *string
	// Traces is where spans go: off, stdout or otlp (to
	// OTLPEndpoint, OTEL_EXPORTER_OTLP_ENDPOINT).
	Traces       *string
	OTLPEndpoint string
	// TraceOutput receives the spans in stdout mode; os.Stdout when nil.
	TraceOutput io.Writer
}

// Common defines the shared flags of service name, listening on httpAddr
// by default; vaultRole says what its Vault token may do (for -h).
func (f *Flags) Common(name, httpAddr, httpUsage, vaultRole string) *Common {
	return &Common{
		name:          name,
		HTTPAddr:      f.String("http-addr", httpAddr, httpUsage),
		NATSURL:       f.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL"),
		NATSUser:      f.String("nats-user", name, "NATS user"),
		NATSPassword:  f.String("nats-password", "", "NATS password"),
		RedisAddr:     f.String("redis-addr", "127.0.0.1:6399", "Redis host:port, or a Redis Cluster's seed addresses host:port,host:port,..."),
		RedisPassword: f.String("redis-password", "", "Redis password"),
		RedisUnsafe:   f.Bool("redis-allow-unsafe-persistence", false, "run even if Redis could lose acknowledged writes"),
		RedisMinReplicaAcks: f.String("redis-min-replica-acks", "auto",
			"replicas that must confirm each write before it counts as done: auto (1 on a Redis Cluster with replicas, else 0) or 0 to "+strconv.Itoa(redisstore.MaxReplicaAcks)),
		VaultAddr:    f.String("vault-addr", "http://127.0.0.1:8200", "Vault address, or a cluster's node addresses, comma-separated"),
		VaultToken:   f.String("vault-token", "", "Vault token ("+vaultRole+")"),
		LogLevel:     f.String("log-level", "info", "debug, info, warn or error"),
		Traces:       f.String("traces", telemetry.ModeOff, "where traces go: off, stdout or otlp (OTEL_EXPORTER_OTLP_ENDPOINT, default "+telemetry.DefaultOTLPEndpoint+")"),
		OTLPEndpoint: f.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	}
}

// WithOps gives c an operations address of its own (-ops-addr,
// TEXTKIT_OPS_ADDR), for a service whose HTTPAddr serves an API: its
// /healthz, /readyz and /metrics are then not on the API's port.
func (c *Common) WithOps(f *Flags, opsAddr string) *Common {
	c.OpsAddr = f.String("ops-addr", opsAddr, "address of /healthz, /readyz and /metrics")
	return c
}

// Deps are a service's open connections, its logger and its operations
// endpoints (with a readiness check per dependency already added).
type Deps struct {
	Name  string
	Log   *slog.Logger
	Vault *vault.Client
	Redis redis.UniversalClient
	Store *redisstore.Store
	// NATS holds the connections Open was asked for, in order.
	NATS []*nats.Conn
	Ops  *Ops
	// API is the service's own API, served on HTTPAddr with APITimeouts
	// when the operations endpoints have an address of their own (OpsAddr).
	API         *http.ServeMux
	APITimeouts Timeouts

	opsListener net.Listener
	apiListener net.Listener
	closers     []func()
}

// Open checks the settings and connects, in order, to Vault (reachable,
// unsealed, token accepted), Redis (reachable, password accepted,
// persistence safe) and NATS (natsConns connections named after their
// roles), failing with one line that names what is wrong. It also opens
// the HTTP listeners, so a taken port fails at start.
func Open(ctx context.Context, c *Common, stderr io.Writer, natsConns ...string) (*Deps, error) {
	log, err := NewLogger(stderr, *c.LogLevel, c.name)
	if err != nil {
		return nil, err
	}
	d := &Deps{Name: c.name, Log: log, Ops: NewOps(log), API: http.NewServeMux(), APITimeouts: OpsTimeouts}
	fail := func(err error) (*Deps, error) {
		d.Close()
		return nil, err
	}
	if err := d.startTraces(ctx, c); err != nil {
		return fail(err)
	}
	if *c.VaultToken == "" {
		return fail(fmt.Errorf("TEXTKIT_VAULT_TOKEN is empty: use the %s token that `textkit vault-init` wrote", c.name))
	}
	if d.Vault, err = vault.New(vault.Config{Addr: *c.VaultAddr, Token: *c.VaultToken}); err != nil {
		return fail(err)
	}
	if err := d.Vault.Health(ctx); err != nil {
		return fail(fmt.Errorf("vault at %s is not usable (is it running? scripts/up.sh starts it; TEXTKIT_VAULT_ADDR): %w", *c.VaultAddr, err))
	}
	if _, err := d.Vault.CheckToken(ctx); err != nil {
		return fail(fmt.Errorf("vault at %s refused TEXTKIT_VAULT_TOKEN (use the %s token that `textkit vault-init` wrote): %w", *c.VaultAddr, c.name, err))
	}
	if err := d.openRedis(ctx, c); err != nil {
		return fail(err)
	}
	for _, role := range natsConns {
		name := c.name
		if role != "" {
			name += "-" + role
		}
		nc, err := natsbus.Connect(ctx, natsbus.Config{URL: *c.NATSURL, User: *c.NATSUser, Password: *c.NATSPassword, Name: name})
		if err != nil {
			return fail(err)
		}
		// Asynchronous errors (a permission the NATS config lacks, a slow
		// consumer) would otherwise go unnoticed.
		nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("nats error", "connection", name, "error", err.Error())
		})
		d.NATS = append(d.NATS, nc)
		d.closers = append(d.closers, nc.Close)
	}
	d.Ops.AddCheck("nats", func(ctx context.Context) error {
		for _, nc := range d.NATS {
			if !nc.IsConnected() {
				return errors.New("not connected")
			}
		}
		return nil
	})
	d.Ops.AddCheck("redis", func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() })
	d.Ops.AddCheck("vault", d.Vault.Health)
	if err := d.listen(c); err != nil {
		return fail(err)
	}
	return d, nil
}

// openRedis connects to Redis and opens the store over it, its durable
// writes waiting for as many replicas as TEXTKIT_REDIS_MIN_REPLICA_ACKS
// says (checked against the deployment).
func (d *Deps) openRedis(ctx context.Context, c *Common) error {
	acks, err := redisstore.ParseMinReplicaAcks(*c.RedisMinReplicaAcks)
	if err != nil {
		return err
	}
	d.Redis, err = redisstore.Connect(ctx, redisstore.Config{Addr: *c.RedisAddr, Password: *c.RedisPassword, AllowUnsafePersistence: *c.RedisUnsafe})
	if err != nil {
		return err
	}
	// shutting down: a close error has no one left to act on it
	d.closers = append(d.closers, func() { _ = d.Redis.Close() })
	d.Store = redisstore.New(d.Redis, redisstore.WithMinReplicaAcks(acks))
	n, err := d.Store.ReplicaAcks(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		d.Log.Info("redis writes wait for replicas", "min_replica_acks", n)
	}
	return nil
}

// listen opens the operations listener, and the API's when they are apart.
func (d *Deps) listen(c *Common) error {
	if c.OpsAddr == nil {
		l, err := Listen(*c.HTTPAddr, "TEXTKIT_HTTP_ADDR")
		d.opsListener = l
		return err
	}
	if _, port, _ := net.SplitHostPort(*c.HTTPAddr); *c.OpsAddr == *c.HTTPAddr && port != "0" {
		return fmt.Errorf("TEXTKIT_OPS_ADDR and TEXTKIT_HTTP_ADDR are both %s: the operations endpoints need a port of their own", *c.HTTPAddr)
	}
	var err error
	if d.apiListener, err = Listen(*c.HTTPAddr, "TEXTKIT_HTTP_ADDR"); err != nil {
		return err
	}
	d.closers = append(d.closers, func() { _ = d.apiListener.Close() })
	d.opsListener, err = Listen(*c.OpsAddr, "TEXTKIT_OPS_ADDR")
	return err
}

// startTraces installs the tracer provider c asks for; Close flushes it.
func (d *Deps) startTraces(ctx context.Context, c *Common) error {
	out := c.TraceOutput
	if out == nil {
		out = os.Stdout
	}
	shutdown, err := telemetry.Setup(ctx, telemetry.Config{Service: c.name, Mode: *c.Traces, Endpoint: c.OTLPEndpoint, Stdout: out})
	if err != nil {
		return err
	}
	d.closers = append(d.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			d.Log.Warn("traces not flushed", "error", err.Error())
		}
	})
	if *c.Traces != telemetry.ModeOff {
		d.Log.Info("traces on", "exporter", *c.Traces)
	}
	return nil
}

// Close closes every connection Open made.
func (d *Deps) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// Run serves the operations endpoints, keeps the Vault token alive and
// runs work until ctx ends or something fails; then it shuts down
// gracefully and closes the connections. A cancelled ctx is a clean stop.
func (d *Deps) Run(ctx context.Context, work ...func(ctx context.Context) error) error {
	defer d.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return Serve(gctx, d.opsListener, d.Ops.Mux, OpsTimeouts, d.Log, "ops") })
	if d.apiListener != nil {
		g.Go(func() error { return Serve(gctx, d.apiListener, d.API, d.APITimeouts, d.Log, "api") })
	}
	go d.Vault.KeepTokenAlive(gctx, 12*time.Hour, func(err error) {
		d.Log.Warn("vault token renewal failed", "error", err.Error())
	})
	for _, w := range work {
		g.Go(func() error { return w(gctx) })
	}
	err := g.Wait()
	d.Log.Info(d.Name + " stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
