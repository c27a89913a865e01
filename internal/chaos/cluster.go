package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/service"
)

// The clustered stack's ports, as offsets from Ports.Base: each is the
// first of a run of ports, one per node or replica (scripts/cluster.sh's
// TEXTKIT_CLUSTER_*_PORTS lists).
var clusterPortLists = []struct {
	env        string
	off, count int
}{
	{"TEXTKIT_CLUSTER_NATS_PORTS", 0, 3}, {"TEXTKIT_CLUSTER_NATS_MONITOR_PORTS", 3, 3},
	{"TEXTKIT_CLUSTER_NATS_ROUTE_PORTS", 6, 3}, {"TEXTKIT_CLUSTER_REDIS_PORTS", 9, 6},
	{"TEXTKIT_CLUSTER_VAULT_PORTS", 15, 3}, {"TEXTKIT_CLUSTER_VAULT_CLUSTER_PORTS", 18, 3},
	{"TEXTKIT_CLUSTER_TWILIO_EMULATOR_PORTS", 21, 1}, {"TEXTKIT_CLUSTER_GATEWAY_PORTS", 22, 2},
	{"TEXTKIT_CLUSTER_GATEWAY_OPS_PORTS", 24, 2}, {"TEXTKIT_CLUSTER_PROVISIONER_PORTS", 26, 3},
	{"TEXTKIT_CLUSTER_RETENTION_PORTS", 29, 2}, {"TEXTKIT_CLUSTER_REDIS_BUS_PORTS", 31, 6},
}

// Offsets of the first port of some of those runs, and of the runner's
// own load balancer in front of the gateways.
const (
	cNATS, cNATSMonitor, cRedis, cVault, cTwilio    = 0, 3, 9, 15, 21
	cGateway, cGatewayOps, cProvisioner, cRetention = 22, 24, 26, 29
	cBalancer                                       = 37
)

// Replica counts of the clustered stack (docs/scaling.md).
const (
	natsNodes, redisNodes, vaultNodes  = 3, 6, 3
	gateways, provisioners, retentions = 2, 3, 2
)

// clusterProcesses names every process of the clustered stack (its pid
// file's name), dependencies first.
var clusterProcesses = func() []string {
	var out []string
	for _, g := range []struct {
		name string
		n    int
	}{{"nats", natsNodes}, {"redis", redisNodes}, {"vault", vaultNodes}} {
		out = append(out, replicas(g.name, g.n)...)
	}
	out = append(out, "twilio-emulator")
	return append(out, clusterServices...)
}()

// clusterServices are our service replicas in the order a rolling deploy
// restarts them.
var clusterServices = append(append(replicas("gateway", gateways), replicas("provisioner", provisioners)...),
	replicas("retention", retentions)...)

func replicas(name string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name + "-" + strconv.Itoa(i+1)
	}
	return out
}

// clusterStack is what only the clustered stack has.
type clusterStack struct {
	// dir is scripts/cluster.sh's data directory (<Dir>/cluster).
	dir      string
	balancer *balancer
}

// clusterPort is the port of the i-th (from 0) node of the run at off.
func (p Ports) clusterPort(off, i int) int { return p.Base + off + i }

func (p Ports) clusterAddr(off, i int) string {
	return "127.0.0.1:" + strconv.Itoa(p.clusterPort(off, i))
}

// clusterList joins the addresses of the n nodes at off, each as
// prefix+host:port.
func (p Ports) clusterList(prefix string, off, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = prefix + p.clusterAddr(off, i)
	}
	return strings.Join(parts, ",")
}

func (p Ports) clusterEnv() []string {
	var out []string
	for _, l := range clusterPortLists {
		ports := make([]string, l.count)
		for i := range ports {
			ports[i] = strconv.Itoa(p.clusterPort(l.off, i))
		}
		out = append(out, l.env+"="+strings.Join(ports, ","))
	}
	return out
}

// ClusterUp brings the clustered stack up (scripts/up.sh --cluster, in
// cfg.Dir, on ports from cfg.Ports.Base) with a round-robin load balancer
// of the runner's own in front of both gateways. When a step fails, what
// was started is stopped again.
func ClusterUp(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &Stack{cfg: cfg, procs: map[string]*proc{}, cluster: &clusterStack{dir: filepath.Join(cfg.Dir, "cluster")}}
	err := s.clusterUp(ctx)
	if err != nil {
		if derr := s.Down(context.Background()); derr != nil {
			err = fmt.Errorf("%w (and stopping what had started: %w)", err, derr)
		}
		return nil, err
	}
	return s, nil
}

func (s *Stack) clusterUp(ctx context.Context) error {
	if err := s.runClusterScript(ctx, "up.sh"); err != nil {
		return err
	}
	if err := s.clusterAttach(); err != nil {
		return err
	}
	for _, name := range clusterProcesses {
		p, err := captureProc(s.cluster.dir, name)
		if err != nil {
			return err
		}
		s.procs[name] = p
	}
	for i := range redisNodes {
		if err := s.clusterRedisArgs(i); err != nil {
			return err
		}
	}
	p := s.cfg.Ports
	b, err := startBalancer(p.clusterAddr(cBalancer, 0), []string{
		"http://" + p.clusterAddr(cGateway, 0), "http://" + p.clusterAddr(cGateway, 1)})
	if err != nil {
		return err
	}
	s.cluster.balancer = b
	return nil
}

// runClusterScript runs scripts/<script> --cluster on the stack's data
// directory and ports, its output in <Dir>/<script>.log.
func (s *Stack) runClusterScript(ctx context.Context, script string) error {
	logPath := filepath.Join(s.cfg.Dir, strings.TrimSuffix(script, ".sh")+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%s log: %w", script, err)
	}
	defer func() { _ = logf.Close() }() // a log
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(s.cfg.Repo, "scripts", script), "--cluster")
	cmd.Dir = s.cfg.Repo
	cmd.Env = append(os.Environ(), "TEXTKIT_DATA_DIR="+s.cfg.Dir, "TEXTKIT_SKIP_DEPS=1",
		"TEXTKIT_MUTATION_TIMEOUT="+s.cfg.MutationTimeout.String(), "TEXTKIT_LOG_LEVEL=info",
		// The services inherit these: retention sweeps every second, and
		// the load measures the system, not the partner rate limit.
		"TEXTKIT_SWEEP_INTERVAL=1s", "TEXTKIT_RATE_LIMIT=100000", "TEXTKIT_RATE_BURST=100000")
	cmd.Env = append(cmd.Env, s.cfg.Ports.clusterEnv()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/%s --cluster failed (see %s): %w", script, logPath, err)
	}
	return nil
}

// clusterAttach reads the clustered stack's secrets and keys and sets its
// endpoints: seed lists of every node, GraphQL through the balancer.
func (s *Stack) clusterAttach() error {
	dir, p := s.cluster.dir, s.cfg.Ports
	var err error
	if s.secrets, err = service.ReadEnvFile(filepath.Join(dir, "secrets.env")); err != nil {
		return err
	}
	key, err := os.ReadFile(filepath.Join(dir, "api-key"))
	if err != nil {
		return fmt.Errorf("api key: %w", err)
	}
	s.apiKey = strings.TrimSpace(string(key))
	s.cfg.VaultEnv = filepath.Join(dir, "vault.env")
	s.ep = Endpoints{
		GraphQL: "http://" + p.clusterAddr(cBalancer, 0) + "/graphql",
		NATS:    p.clusterList("nats://", cNATS, natsNodes), Redis: p.clusterList("", cRedis, redisNodes),
		Vault: p.clusterList("http://", cVault, vaultNodes), Emulator: "http://" + p.clusterAddr(cTwilio, 0),
	}
	s.rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(s.ep.Redis, ","),
		Password: s.secrets["TEXTKIT_REDIS_PASSWORD"], DialTimeout: time.Second, ReadTimeout: time.Second})
	return nil
}

// clusterRedisArgs rebuilds redis node i's command line as
// scripts/cluster.sh gives it (redis-server rewrites its own).
func (s *Stack) clusterRedisArgs(i int) error {
	p := s.procs[replicas("redis", redisNodes)[i]]
	prog := strings.Fields(p.argv[0])
	if len(prog) == 0 {
		return errors.New("redis: empty command line")
	}
	deploy := filepath.Join(s.cfg.Repo, "deploy", "redis")
	p.argv = []string{prog[0], filepath.Join(deploy, "redis.conf"), "--port", strconv.Itoa(s.cfg.Ports.clusterPort(cRedis, i)),
		"--dir", filepath.Join(s.cluster.dir, "redis-"+strconv.Itoa(i+1)),
		"--include", filepath.Join(s.cluster.dir, "redis", "secret.conf"), "--include", filepath.Join(deploy, "cluster.conf")}
	return nil
}

// clusterDown stops the balancer and every process (scripts/down.sh
// --cluster).
func (s *Stack) clusterDown(ctx context.Context) error {
	if s.cluster.balancer != nil {
		s.cluster.balancer.close()
	}
	if s.rdb != nil {
		_ = s.rdb.Close() // closing a client: nothing to report
	}
	for _, p := range s.procs {
		_ = p.signal(0x12) // SIGCONT: a stopped process must be able to stop
	}
	return s.runClusterScript(ctx, "down.sh")
}

// processNames names every process of the stack.
func (s *Stack) processNames() []string {
	if s.cluster != nil {
		return clusterProcesses
	}
	return append(append([]string(nil), dependencies...), ourServices...)
}

// nodeIndex splits "redis-4" into "redis" and 3.
func nodeIndex(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	n, err := strconv.Atoi(name[i+1:])
	if i < 0 || err != nil {
		return name, 0
	}
	return name[:i], n - 1
}

// clusterReadiness is readiness on the clustered stack.
func (s *Stack) clusterReadiness(name string) func(context.Context) error {
	kind, i := nodeIndex(name)
	p := s.cfg.Ports
	switch kind {
	case "nats":
		// The whole /healthz: JetStream is up and every stream and
		// consumer the node holds is current, which needs a leader. On
		// three nodes with R3 the node holds all of them, so a node ready
		// again means no stream or consumer still electing a leader after
		// its loss (JetStream elects one after a randomised 4-9 s without
		// heartbeats, whatever the node's restart took).
		return httpOK("http://" + p.clusterAddr(cNATSMonitor, i) + "/healthz")
	case "redis":
		return func(ctx context.Context) error { return s.redisNodeReady(ctx, i) }
	case "vault":
		return func(ctx context.Context) error { return s.vaultNodeReady(ctx, i) }
	case "gateway":
		return httpOK("http://" + p.clusterAddr(cGatewayOps, i) + "/readyz")
	case "provisioner":
		return httpOK("http://" + p.clusterAddr(cProvisioner, i) + "/readyz")
	case "retention":
		return httpOK("http://" + p.clusterAddr(cRetention, i) + "/readyz")
	}
	return func(context.Context) error {
		c, err := net.DialTimeout("tcp", p.clusterAddr(cTwilio, 0), time.Second)
		if err == nil {
			_ = c.Close() // a probe
		}
		return err
	}
}
