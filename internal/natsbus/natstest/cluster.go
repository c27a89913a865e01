package natstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/testenv"
)

// ClusterSize is the number of nodes StartCluster runs: enough for R3
// streams to keep a quorum with one node down.
const ClusterSize = 3

// ClusterName is the cluster's name in the nodes' configuration.
const ClusterName = "textkit"

// Cluster is a JetStream cluster of ClusterSize nats-server processes (the
// binary scripts/deps.sh builds) on loopback ports, each configured from
// deploy/nats/nats.conf (the same accounts, users, permissions, mapping and
// JetStream settings) plus its name and the routes to the others. Being
// processes, its nodes can be killed for real (SIGKILL) and restarted on
// the same ports with the same store.
type Cluster struct {
	Nodes []*Node
}

// Node is one server of a Cluster.
type Node struct {
	// Name is its server_name (n1, n2, n3): the name stream and consumer
	// leaders and replicas are reported by.
	Name string
	// Port, ClusterPort and MonitorPort are its client, route and HTTP
	// monitoring ports on 127.0.0.1.
	Port, ClusterPort, MonitorPort int
	// StoreDir is its JetStream store, kept across restarts.
	StoreDir string

	conf string
	bin  string
	out  *testenv.Buffer
	proc *testenv.Process
}

// StartCluster starts a three-node cluster (LaunchCluster) and waits until
// it has a meta leader and every node is ready for JetStream.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := LaunchCluster(t)
	c.WaitReady(t, 30*time.Second)
	return c
}

// LaunchCluster starts a three-node cluster and returns once every node
// accepts clients, maybe before the nodes have elected a JetStream meta
// leader: a fresh cluster, as a service starting with it sees it. The
// cluster is stopped when the test ends (the nodes' output logged if the
// test failed).
func LaunchCluster(t testing.TB) *Cluster {
	t.Helper()
	setEnv()
	bin := testenv.Binary(t, "nats-server")
	base, err := os.ReadFile(ConfigPath())
	if err != nil {
		t.Fatalf("read %s: %v", ConfigPath(), err)
	}
	const nameLine = "server_name: textkit-nats"
	if !strings.Contains(string(base), nameLine) {
		t.Fatalf("%s has no line %q to name each node by", ConfigPath(), nameLine)
	}
	c := &Cluster{}
	dir := t.TempDir()
	for i := 1; i <= ClusterSize; i++ {
		n := &Node{Name: "n" + strconv.Itoa(i), bin: bin, out: &testenv.Buffer{},
			Port: testenv.FreePort(t), ClusterPort: testenv.FreePort(t), MonitorPort: testenv.FreePort(t),
			StoreDir: filepath.Join(dir, "n"+strconv.Itoa(i), "store")}
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		var routes []string
		for _, o := range c.Nodes {
			if o != n {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.ClusterPort))
			}
		}
		conf := strings.Replace(string(base), nameLine, "server_name: "+n.Name, 1) + fmt.Sprintf(`
# natstest.StartCluster: node %s of a %d-node cluster on loopback.
cluster {
  name: %s
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.Name, ClusterSize, ClusterName, n.ClusterPort, strings.Join(routes, ", "))
		n.conf = filepath.Join(dir, n.Name, "nats.conf")
		if err := os.MkdirAll(n.StoreDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			if n.proc != nil {
				_ = n.proc.Terminate(testenv.StopTimeout) // killed or not, it has exited
			}
			if t.Failed() {
				t.Logf("output of nats-server %s:\n%s", n.Name, n.out.Tail(8<<10))
			}
		}
	})
	for _, n := range c.Nodes {
		n.start(t)
	}
	return c
}

// start runs the node's process and waits until it accepts clients.
func (n *Node) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(n.bin, "-c", n.conf)
	cmd.Env = append(os.Environ(),
		"TEXTKIT_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(n.Port),
		"TEXTKIT_NATS_MONITOR_LISTEN=127.0.0.1:"+strconv.Itoa(n.MonitorPort),
		"TEXTKIT_NATS_STORE_DIR="+n.StoreDir,
	)
	p, err := testenv.Launch(cmd, testenv.LaunchOptions{Output: n.out})
	if err != nil {
		t.Fatal(err)
	}
	n.proc = p
	testenv.Eventually(t, 20*time.Second, func() error {
		if ok, err := p.Exited(); ok {
			return testenv.Abort(fmt.Errorf("nats-server %s exited: %v\n%s", n.Name, err, n.out.Tail(4<<10)))
		}
		// Up and serving JetStream; the meta leader may still be unknown
		// (a first node waits for the others).
		return n.healthy("js-enabled-only=true")
	})
}

// healthy asks the node's /healthz, with query (e.g. "js-enabled-only=true").
func (n *Node) healthy(query string) error {
	u := fmt.Sprintf("http://127.0.0.1:%d/healthz", n.MonitorPort)
	if query != "" {
		u += "?" + query
	}
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(u)
	if err != nil {
		return fmt.Errorf("nats-server %s: %w", n.Name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body) // the status code decides; the body only explains
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("nats-server %s not healthy: %d %s", n.Name, resp.StatusCode, body.Error)
	}
	return nil
}

// URL is the node's client URL.
func (n *Node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

// Running reports whether the node's process runs.
func (n *Node) Running() bool {
	ok, _ := n.proc.Exited()
	return !ok
}

// Kill kills the node with SIGKILL: no shutdown, no flush, its routes and
// clients just break.
func (n *Node) Kill(t testing.TB) {
	t.Helper()
	n.proc.Kill(t)
}

// Stop shuts the node down gracefully (SIGTERM): its leaders step down
// first.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	n.proc.Stop(t)
}

// Restart starts a killed (or stopped) node again, on the same ports with
// the same store, and waits until it accepts clients.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if n.Running() {
		t.Fatalf("nats-server %s (pid %d) is still running", n.Name, n.proc.Pid())
	}
	n.start(t)
}

// URL is the seed list of every node, comma-separated, as TEXTKIT_NATS_URL
// takes it.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Node returns the node named name (as leaders are reported), nil if none.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Connect returns a connection as user (one of Passwords' keys) to the
// whole seed list, closed when the test ends; it reconnects to another
// node when its node dies.
func (c *Cluster) Connect(t testing.TB, user string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, c.URL(), user, opts...)
}

// WaitReady waits until every running node is healthy (it has contact with
// the meta leader, and its replicas of every stream and consumer are
// current) and the cluster has a meta leader, so that streams can be
// created and a restarted node has caught up.
func (c *Cluster) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			if err := n.healthy(""); err != nil {
				return err
			}
		}
		_, err := c.MetaLeader()
		return err
	})
}

// MetaLeader returns the name of the JetStream meta leader, as a running
// node reports it, or an error while there is none.
func (c *Cluster) MetaLeader() (string, error) {
	last := errors.New("no node is running")
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		var jsz struct {
			Meta *struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		if err := getJSON(fmt.Sprintf("http://127.0.0.1:%d/jsz", n.MonitorPort), &jsz); err != nil {
			last = err
			continue
		}
		if jsz.Meta == nil || jsz.Meta.Leader == "" {
			last = fmt.Errorf("nats-server %s knows no meta leader", n.Name)
			continue
		}
		if l := c.Node(jsz.Meta.Leader); l == nil || !l.Running() {
			last = fmt.Errorf("nats-server %s names meta leader %q, which is not running", n.Name, jsz.Meta.Leader)
			continue
		}
		return jsz.Meta.Leader, nil
	}
	return "", last
}

func getJSON(u string, v any) error {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(u)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// StreamLeader returns the node leading stream, or an error while it has
// no running leader.
func StreamLeader(ctx context.Context, js jetstream.JetStream, c *Cluster, stream string) (*Node, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return c.leader(s.CachedInfo().Cluster, "stream "+stream)
}

// ConsumerLeader returns the node leading stream's consumer, or an error
// while it has no running leader.
func ConsumerLeader(ctx context.Context, js jetstream.JetStream, c *Cluster, stream, consumer string) (*Node, error) {
	cons, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, err
	}
	return c.leader(cons.CachedInfo().Cluster, "consumer "+consumer)
}

// leader returns the running node a stream's or consumer's cluster info
// names as its leader.
func (c *Cluster) leader(ci *jetstream.ClusterInfo, what string) (*Node, error) {
	if ci == nil || ci.Leader == "" {
		return nil, fmt.Errorf("%s has no leader", what)
	}
	leader := c.Node(ci.Leader)
	if leader == nil || !leader.Running() {
		return nil, fmt.Errorf("%s: leader %q is not a running node", what, ci.Leader)
	}
	return leader, nil
}

// settled checks a stream's or consumer's cluster info: a running leader,
// and every replica on a running node current.
func (c *Cluster) settled(ci *jetstream.ClusterInfo, replicas int, what string) (*Node, error) {
	leader, err := c.leader(ci, what)
	if err != nil {
		return nil, err
	}
	// A stream or consumer just moved to more replicas lists its new
	// followers only once their groups have formed.
	if len(ci.Replicas) < replicas-1 {
		return nil, fmt.Errorf("%s: %d followers listed, want %d", what, len(ci.Replicas), replicas-1)
	}
	for _, r := range ci.Replicas {
		if n := c.Node(r.Name); n != nil && n.Running() && (!r.Current || r.Offline) {
			return nil, fmt.Errorf("%s: replica %s is not current (lag %d, offline %v)", what, r.Name, r.Lag, r.Offline)
		}
	}
	return leader, nil
}

// WaitSettled waits until stream and each of consumers have a running
// leader and every replica on a running node is current, and returns the
// stream's leader.
func WaitSettled(t testing.TB, js jetstream.JetStream, c *Cluster, timeout time.Duration, stream string, consumers ...string) *Node {
	t.Helper()
	var leader *Node
	testenv.Eventually(t, timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		replicas := s.CachedInfo().Config.Replicas
		l, err := c.settled(s.CachedInfo().Cluster, replicas, "stream "+stream)
		if err != nil {
			return err
		}
		for _, name := range consumers {
			cons, err := js.Consumer(ctx, stream, name)
			if err != nil {
				return err
			}
			want := cons.CachedInfo().Config.Replicas
			if want == 0 { // the stream's
				want = replicas
			}
			if _, err := c.settled(cons.CachedInfo().Cluster, want, "consumer "+name); err != nil {
				return err
			}
		}
		leader = l
		return nil
	})
	return leader
}
