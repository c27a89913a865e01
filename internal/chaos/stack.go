package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/service"
)

// Ports are the stack's loopback ports, all counted from Base.
type Ports struct{ Base int }

// The offsets from Ports.Base.
const (
	offNATS = iota
	offNATSMonitor
	offRedis
	offVault
	offVaultCluster
	offEmulator
	offGateway
	offProvisioner
	offRetention
	offGatewayOps
	offProxies = 20
)

func (p Ports) port(off int) int    { return p.Base + off }
func (p Ports) addr(off int) string { return "127.0.0.1:" + strconv.Itoa(p.port(off)) }
func (p Ports) url(off int) string  { return "http://" + p.addr(off) }
func (p Ports) upEnv() []string {
	return []string{
		env("TEXTKIT_NATS_PORT", p.port(offNATS)), env("TEXTKIT_NATS_MONITOR_PORT", p.port(offNATSMonitor)),
		env("TEXTKIT_REDIS_PORT", p.port(offRedis)), env("TEXTKIT_VAULT_PORT", p.port(offVault)),
		env("TEXTKIT_VAULT_CLUSTER_PORT", p.port(offVaultCluster)), env("TEXTKIT_TWILIO_EMULATOR_PORT", p.port(offEmulator)),
		env("TEXTKIT_GATEWAY_PORT", p.port(offGateway)), env("TEXTKIT_PROVISIONER_PORT", p.port(offProvisioner)),
		env("TEXTKIT_RETENTION_PORT", p.port(offRetention)), env("TEXTKIT_GATEWAY_OPS_PORT", p.port(offGatewayOps)),
	}
}

// Endpoints are where the stack's parts answer: URLs (http://, nats://)
// and Redis's host:port.
type Endpoints struct {
	GraphQL, NATS, NATSMonitor, Redis, Vault, Emulator string
	// Gateway (its ops port), Provisioner and Retention serve /readyz.
	Gateway, Provisioner, Retention string
}

// Endpoints are the endpoints of a stack on these ports.
func (p Ports) Endpoints() Endpoints {
	return Endpoints{
		GraphQL: p.url(offGateway) + "/graphql", NATS: "nats://" + p.addr(offNATS), NATSMonitor: p.url(offNATSMonitor),
		Redis: p.addr(offRedis), Vault: p.url(offVault), Emulator: p.url(offEmulator),
		Gateway: p.url(offGatewayOps), Provisioner: p.url(offProvisioner), Retention: p.url(offRetention),
	}
}

func env(k string, v int) string { return k + "=" + strconv.Itoa(v) }

// Services and dependencies, by the names scripts/up.sh gives them.
var (
	ourServices  = []string{"gateway", "provisioner", "retention"}
	dependencies = []string{"nats", "redis", "vault", "twilio-emulator"}
)

// link is one service's connection to one dependency, through a proxy.
type link struct{ service, dependency string }

func (l link) String() string { return l.service + ">" + l.dependency }

// links lists every proxied connection.
var links = []link{
	{"gateway", "nats"}, {"gateway", "redis"}, {"gateway", "vault"},
	{"provisioner", "nats"}, {"provisioner", "redis"}, {"provisioner", "vault"}, {"provisioner", "twilio-emulator"},
	{"retention", "nats"}, {"retention", "redis"}, {"retention", "vault"},
}

// StackConfig says where and how the stack runs.
type StackConfig struct {
	// Repo is the repository root (scripts/up.sh, deploy/).
	Repo string
	// Dir is the stack's data directory (TEXTKIT_DATA_DIR).
	Dir   string
	Ports Ports
	// MutationTimeout is the gateway's.
	MutationTimeout time.Duration
	// External, when set, is a stack someone else runs (docker compose):
	// the runner neither starts nor kills anything, runs only the
	// scenarios that need no process control, reads the secrets from its
	// own environment (Secrets) and the service tokens from VaultEnv.
	External *Endpoints
	Secrets  map[string]string
	VaultEnv string
}

// Stack is the whole system as separate processes (started by
// scripts/up.sh), each of our services reaching each dependency through
// its own toxiproxy proxy.
type Stack struct {
	cfg     StackConfig
	ep      Endpoints
	secrets map[string]string
	apiKey  string
	procs   map[string]*proc
	proxies map[string]*toxiproxy.Proxy
	rdb     redis.UniversalClient
	// cluster is set on the clustered stack (cluster.go).
	cluster *clusterStack
	// flood is the running scenario's, for the nats-flood scenario.
	flood floodRun
}

// Up brings the stack up: scripts/up.sh, then our services restarted to
// reach their dependencies through the proxies. When a step fails, what
// was started is stopped again (scripts/down.sh), so a failed run leaves
// no process behind.
func Up(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s, err := up(ctx, cfg)
	if err != nil {
		if s == nil {
			s = &Stack{cfg: cfg, procs: map[string]*proc{}, proxies: map[string]*toxiproxy.Proxy{}}
		}
		if derr := s.Down(context.Background()); derr != nil {
			err = fmt.Errorf("%w (and stopping what had started: %w)", err, derr)
		}
		return nil, err
	}
	return s, nil
}

// up is Up without the clean-up: it returns the stack as far as it got.
func up(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if err := runUp(ctx, cfg); err != nil {
		return nil, err
	}
	s, err := Attach(cfg)
	if err != nil {
		return nil, err
	}
	for _, name := range append(append([]string(nil), dependencies...), ourServices...) {
		if s.procs[name], err = captureProc(cfg.Dir, name); err != nil {
			return s, err
		}
	}
	if err := s.redisArgs(); err != nil {
		return s, err
	}
	if err := s.startProxies(); err != nil {
		return s, err
	}
	for _, name := range ourServices {
		if err := s.procs[name].restart(); err != nil {
			return s, err
		}
	}
	for _, name := range ourServices {
		if err := s.waitReady(ctx, name, time.Minute); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Attach reads the secrets and processes of a stack scripts/up.sh (or Up)
// started in cfg.Dir, without changing anything (to check a ledger again).
func Attach(cfg StackConfig) (*Stack, error) {
	s := &Stack{cfg: cfg, ep: cfg.Ports.Endpoints(), procs: map[string]*proc{}, proxies: map[string]*toxiproxy.Proxy{}}
	var err error
	if cfg.External != nil {
		return s, s.attachExternal()
	}
	if s.secrets, err = service.ReadEnvFile(filepath.Join(cfg.Dir, "secrets.env")); err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(cfg.Dir, "api-key"))
	if err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	s.apiKey = strings.TrimSpace(string(key))
	s.cfg.VaultEnv = filepath.Join(cfg.Dir, "vault.env")
	s.rdb = newRedis(s.ep.Redis, s.secrets["TEXTKIT_REDIS_PASSWORD"])
	return s, nil
}

func newRedis(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password,
		DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
}

// attachExternal attaches to a stack run by someone else, with a partner
// API key of its own.
func (s *Stack) attachExternal() error {
	s.ep, s.secrets = *s.cfg.External, s.cfg.Secrets
	s.rdb = newRedis(s.ep.Redis, s.secrets["TEXTKIT_REDIS_PASSWORD"])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.waitReady(ctx, "redis", time.Minute); err != nil {
		return err
	}
	_, key, err := access.Issue(ctx, redisstore.New(s.rdb), "chaos", access.RolePartner, seedPartnerID, time.Now())
	if err != nil {
		return fmt.Errorf("api key: %w", err)
	}
	s.apiKey = key
	return nil
}

// redisArgs rebuilds redis-server's command line, as scripts/up.sh gives
// it: redis-server rewrites its own (/proc shows "redis-server addr:port").
func (s *Stack) redisArgs() error {
	p := s.procs["redis"]
	// The first word of the rewritten title is the program as started
	// (redis-server; /proc/<pid>/exe would name the binary it links to,
	// redis-check-rdb on Debian, which acts by its name).
	prog := strings.Fields(p.argv[0])
	if len(prog) == 0 {
		return errors.New("redis: empty command line")
	}
	dir := filepath.Join(s.cfg.Dir, "redis")
	p.argv = []string{prog[0], filepath.Join(s.cfg.Repo, "deploy", "redis", "redis.conf"), "--port", strconv.Itoa(s.cfg.Ports.port(offRedis)),
		"--dir", dir, "--include", filepath.Join(dir, "secret.conf")}
	return nil
}

func runUp(ctx context.Context, cfg StackConfig) error {
	logf, err := os.Create(filepath.Join(cfg.Dir, "up.log"))
	if err != nil {
		return fmt.Errorf("up.sh log: %w", err)
	}
	defer func() { _ = logf.Close() }() // a log
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(cfg.Repo, "scripts", "up.sh"))
	cmd.Dir = cfg.Repo
	cmd.Env = append(os.Environ(), "TEXTKIT_DATA_DIR="+cfg.Dir, "TEXTKIT_SKIP_DEPS=1",
		"TEXTKIT_MUTATION_TIMEOUT="+cfg.MutationTimeout.String(), "TEXTKIT_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, cfg.Ports.upEnv()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/up.sh failed (see %s): %w", logf.Name(), err)
	}
	return nil
}

// upstream is where a dependency really listens.
func (s *Stack) upstream(dep string) string {
	switch dep {
	case "nats":
		return s.cfg.Ports.addr(offNATS)
	case "redis":
		return s.cfg.Ports.addr(offRedis)
	case "vault":
		return s.cfg.Ports.addr(offVault)
	}
	return s.cfg.Ports.addr(offEmulator)
}

// startProxies starts an embedded toxiproxy with one proxy per link and
// points each service's environment at its proxies.
func (s *Stack) startProxies() error {
	logger := zerolog.New(io.Discard)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	for i, l := range links {
		p := toxiproxy.NewProxy(srv, l.String(), s.cfg.Ports.addr(offProxies+i), s.upstream(l.dependency))
		if err := p.Start(); err != nil {
			return fmt.Errorf("proxy %s: %w", l, err)
		}
		s.proxies[l.String()] = p
		addr := s.cfg.Ports.addr(offProxies + i)
		svc := s.procs[l.service]
		switch l.dependency {
		case "nats":
			svc.setEnv("TEXTKIT_NATS_URL", "nats://"+addr)
		case "redis":
			svc.setEnv("TEXTKIT_REDIS_ADDR", addr)
		case "vault":
			svc.setEnv("TEXTKIT_VAULT_ADDR", "http://"+addr)
		case "twilio-emulator":
			svc.setEnv("TEXTKIT_TWILIO_API_URL", "http://"+addr)
		}
	}
	s.procs["retention"].setEnv("TEXTKIT_SWEEP_INTERVAL", "1s")
	// The load measures the system, not the partner rate limit.
	s.procs["gateway"].setEnv("TEXTKIT_RATE_LIMIT", "100000", "TEXTKIT_RATE_BURST", "100000")
	return nil
}

// Down stops every process (scripts/down.sh) and the proxies.
func (s *Stack) Down(ctx context.Context) error {
	if s.cluster != nil {
		return s.clusterDown(ctx)
	}
	for _, p := range s.proxies {
		p.Stop()
	}
	if s.rdb != nil {
		_ = s.rdb.Close() // closing a client: nothing to report
	}
	for _, p := range s.procs {
		if p != nil {
			_ = p.signal(0x12) // SIGCONT: a stopped process must be able to stop
		}
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(s.cfg.Repo, "scripts", "down.sh"))
	cmd.Env = append(os.Environ(), "TEXTKIT_DATA_DIR="+s.cfg.Dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/down.sh: %w: %s", err, out)
	}
	return nil
}

// waitReady waits until the named process serves again.
func (s *Stack) waitReady(ctx context.Context, name string, limit time.Duration) error {
	return waitFor(ctx, name+" ready", limit, s.readiness(name))
}

func (s *Stack) readiness(name string) func(context.Context) error {
	if s.cluster != nil {
		return s.clusterReadiness(name)
	}
	switch name {
	case "nats":
		return httpOK(s.ep.NATSMonitor + "/healthz?js-enabled-only=true")
	case "redis":
		return func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }
	case "vault":
		return s.vaultReady
	case "twilio-emulator":
		return func(context.Context) error {
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.ep.Emulator, "http://"), time.Second)
			if err == nil {
				_ = c.Close() // a probe
			}
			return err
		}
	case "gateway":
		return httpOK(s.ep.Gateway + "/readyz")
	case "provisioner":
		return httpOK(s.ep.Provisioner + "/readyz")
	}
	return httpOK(s.ep.Retention + "/readyz")
}

func httpOK(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close() // status only
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: status %d", url, resp.StatusCode)
		}
		return nil
	}
}

// vaultReady unseals Vault if it is sealed (a restarted Vault is) and
// reports whether it is healthy.
func (s *Stack) vaultReady(ctx context.Context) error {
	base := s.ep.Vault
	if err := httpOK(base + "/v1/sys/health")(ctx); err == nil {
		return nil
	}
	body := strings.NewReader(`{"key":"` + s.secrets["TEXTKIT_VAULT_UNSEAL_KEY"] + `"}`)
	if err := s.vaultCall(ctx, http.MethodPut, "/v1/sys/unseal", body); err != nil {
		return err
	}
	return httpOK(base + "/v1/sys/health")(ctx)
}

// vaultCall calls Vault's API with the root token.
func (s *Stack) vaultCall(ctx context.Context, method, path string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, method, s.ep.Vault+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", s.secrets["TEXTKIT_VAULT_ROOT_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("vault %s: %w", path, err)
	}
	_ = resp.Body.Close() // status only
	if resp.StatusCode >= 300 {
		return fmt.Errorf("vault %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// portSpan is how many ports from Ports.Base the stack uses.
const portSpan = offProxies + 20

// FreePorts finds a base with portSpan free loopback ports after it.
func FreePorts() (Ports, error) {
	for try := 0; try < 100; try++ {
		// 20000-26999: below Linux's ephemeral range (32768-60999), where
		// the kernel picks the ports of outgoing connections and of tests'
		// :0 listeners (a port there can be free when probed and taken
		// before a node binds it), and apart from scripts/cluster_test.go's
		// 27000-31999, which starts its stack beside ours in the test suite.
		base := 20000 + rand.IntN(7000-portSpan)
		if spanFree(base) {
			return Ports{Base: base}, nil
		}
	}
	return Ports{}, errors.New("no run of free loopback ports found")
}

func spanFree(base int) bool {
	for p := base; p < base+portSpan; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		_ = l.Close() // a probe
	}
	return true
}
