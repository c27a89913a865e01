package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/testenv"
)

// clusterTimeout bounds each wait for the cluster: its creation, a
// failover, a node rejoining.
const clusterTimeout = 60 * time.Second

// nodeTimeout is the cluster's cluster-node-timeout: how long a master is
// unreachable before its replica takes over. Short, so a failover takes a
// few seconds.
const nodeTimeout = 1000 * time.Millisecond

// Cluster is a real Redis Cluster of three masters each with one replica:
// six redis-server processes (testenv.StartRedis, each durable as
// production runs it: append-only file fsynced on every write, noeviction)
// sharing one password, which replicas also use to reach their masters.
type Cluster struct {
	// Nodes are the six servers, in the order given to
	// redis-cli --cluster create (the first three start as masters).
	Nodes []*testenv.Redis
	// Password is every node's password.
	Password string
}

// StartCluster starts six redis-servers in cluster mode, joins them with
// redis-cli --cluster create --cluster-replicas 1, waits until every node
// says cluster_state:ok with all 16384 slots served and every replica is
// in sync, and returns a cluster client for it. A missing redis-server or
// redis-cli skips the test outside CI and fails it under CI. Everything
// is stopped when the test ends.
func StartCluster(t testing.TB) (*redis.ClusterClient, *Cluster) {
	t.Helper()
	cli := testenv.Binary(t, "redis-cli")
	c := &Cluster{Password: testenv.RandomHex(16)}
	for range 6 {
		c.Nodes = append(c.Nodes, testenv.StartRedis(t,
			testenv.WithRedisPassword(c.Password),
			testenv.WithRedisConfig("cluster-enabled", "yes"),
			testenv.WithRedisConfig("cluster-port", strconv.Itoa(testenv.FreePort(t))),
			testenv.WithRedisConfig("cluster-node-timeout", strconv.Itoa(int(nodeTimeout.Milliseconds()))),
			testenv.WithRedisConfig("masterauth", c.Password),
			// a replica (re)joining is synced at once, not after 5 s
			testenv.WithRedisConfig("repl-diskless-sync-delay", "0")))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	cmd := exec.Command(cli, args...)
	cmd.Env = []string{"REDISCLI_AUTH=" + c.Password}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:    c.Addrs(),
		Password: c.Password,
		// Tests kill masters: do not wait long on a dead one.
		MaxRedirects: 8,
		DialTimeout:  time.Second,
	})
	redisstore.FollowFailovers(rdb)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping redis cluster at %s: %v", c.Seeds(), err)
	}
	return rdb, c
}

// Addrs are the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Seeds is Addrs comma-separated, as TEXTKIT_REDIS_ADDR takes them.
func (c *Cluster) Seeds() string { return strings.Join(c.Addrs(), ",") }

// node is one line of CLUSTER NODES.
type node struct {
	id, addr, master string
	flags            []string
	slots            [][2]int
}

func (n node) isMaster() bool { return slices.Contains(n.flags, "master") }
func (n node) failed() bool {
	return slices.Contains(n.flags, "fail") || slices.Contains(n.flags, "fail?")
}

func (n node) serves(slot int) bool {
	for _, r := range n.slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// parseNodes reads CLUSTER NODES.
func parseNodes(reply string) ([]node, error) {
	var out []node
	for _, line := range strings.Split(strings.TrimSpace(reply), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("cluster nodes: short line %q", line)
		}
		n := node{id: f[0], addr: strings.SplitN(f[1], "@", 2)[0], flags: strings.Split(f[2], ","), master: f[3]}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			lo, hi, _ := strings.Cut(s, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("cluster nodes: slot %q: %w", s, err)
			}
			b := a
			if hi != "" {
				if b, err = strconv.Atoi(hi); err != nil {
					return nil, fmt.Errorf("cluster nodes: slot %q: %w", s, err)
				}
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out, nil
}

// running are the nodes whose process is alive.
func (c *Cluster) running() []*testenv.Redis {
	var out []*testenv.Redis
	for _, n := range c.Nodes {
		if ok, _ := n.Process().Exited(); !ok {
			out = append(out, n)
		}
	}
	return out
}

func (c *Cluster) byAddr(addr string) *testenv.Redis {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// healthy reports why the cluster is not yet healthy: every running node
// must say cluster_state:ok with every slot served, know every node,
// see no node failing, and every master must have a replica in sync.
func (c *Cluster) healthy() error {
	for _, r := range c.running() {
		info, err := r.Do("CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: cluster info: %w", r.Addr, err)
		}
		s, _ := info.(string)
		for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(len(c.Nodes))} {
			if !strings.Contains(s, want) {
				return fmt.Errorf("%s: cluster info lacks %s:\n%s", r.Addr, want, s)
			}
		}
		nodes, err := c.nodesSeenBy(r)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.failed() {
				return fmt.Errorf("%s sees %s as %v", r.Addr, n.addr, n.flags)
			}
		}
	}
	return c.replicasInSync()
}

func (c *Cluster) nodesSeenBy(r *testenv.Redis) ([]node, error) {
	reply, err := r.Do("CLUSTER", "NODES")
	if err != nil {
		return nil, fmt.Errorf("%s: cluster nodes: %w", r.Addr, err)
	}
	s, _ := reply.(string)
	return parseNodes(s)
}

// replicasInSync checks, on every master, that it has a replica online
// whose replication offset is the master's.
func (c *Cluster) replicasInSync() error {
	for _, r := range c.running() {
		reply, err := r.Do("INFO", "replication")
		if err != nil {
			return fmt.Errorf("%s: info replication: %w", r.Addr, err)
		}
		info, _ := reply.(string)
		if !strings.Contains(info, "role:master") {
			if !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("%s: replica not linked to its master:\n%s", r.Addr, info)
			}
			continue
		}
		offset := infoField(info, "master_repl_offset")
		synced := false
		for _, line := range strings.Split(info, "\n") {
			if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") &&
				strings.Contains(line, "offset="+offset+",") {
				synced = true
			}
		}
		if !synced {
			return fmt.Errorf("%s: no replica online at offset %s:\n%s", r.Addr, offset, info)
		}
	}
	return nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// WaitHealthy waits until every running node says cluster_state:ok with
// every slot served and no node failing, and every master's replica has
// everything the master acknowledged.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	if err := testenv.Poll(clusterTimeout, c.healthy); err != nil {
		t.Fatalf("redis cluster %s not healthy: %v", c.Seeds(), err)
	}
}

// Slot returns the cluster slot of key, as CLUSTER KEYSLOT computes it.
func (c *Cluster) Slot(t testing.TB, key string) int {
	t.Helper()
	reply, err := c.running()[0].Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatalf("cluster keyslot %q: %v", key, err)
	}
	n, _ := reply.(int64)
	return int(n)
}

// MasterOf returns the node that serves key's slot now.
func (c *Cluster) MasterOf(t testing.TB, key string) *testenv.Redis {
	t.Helper()
	m, err := c.masterOf(c.Slot(t, key))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (c *Cluster) masterOf(slot int) (*testenv.Redis, error) {
	for _, r := range c.running() {
		nodes, err := c.nodesSeenBy(r)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if n.isMaster() && !n.failed() && n.serves(slot) {
				return c.byAddr(n.addr), nil
			}
		}
	}
	return nil, fmt.Errorf("no running master serves slot %d", slot)
}

// KillMaster kills the master that serves key's slot with SIGKILL, as a
// crash would, at once (without waiting for its replica to catch up: what
// the store acknowledged its replica confirmed already; a test that wrote
// without WAIT calls WaitInSync first), then waits until that replica has
// taken over the slot (cluster_state:ok again on every running node). It
// returns the killed node; Rejoin starts it again.
func (c *Cluster) KillMaster(t testing.TB, key string) *testenv.Redis {
	t.Helper()
	slot := c.Slot(t, key)
	old := c.MasterOf(t, key)
	old.Kill(t)
	err := testenv.Poll(clusterTimeout, func() error {
		m, err := c.masterOf(slot)
		if err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("slot %d still served by the killed %s", slot, old.Addr)
		}
		for _, r := range c.running() {
			info, err := r.Do("CLUSTER", "INFO")
			if s, _ := info.(string); err != nil || !strings.Contains(s, "cluster_state:ok") {
				return fmt.Errorf("%s: not cluster_state:ok (%v)", r.Addr, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no failover after killing %s: %v", old.Addr, err)
	}
	return old
}

// WaitInSync waits until every master's replica has everything the
// master acknowledged (its replication offset is the master's).
func (c *Cluster) WaitInSync(t testing.TB) {
	t.Helper()
	if err := testenv.Poll(clusterTimeout, c.replicasInSync); err != nil {
		t.Fatalf("redis cluster %s: replicas not in sync: %v", c.Seeds(), err)
	}
}

// ReplicaOf returns the running replica of the master that serves key's
// slot now.
func (c *Cluster) ReplicaOf(t testing.TB, key string) *testenv.Redis {
	t.Helper()
	m := c.MasterOf(t, key)
	nodes, err := c.nodesSeenBy(m)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, n := range nodes {
		if n.addr == m.Addr {
			id = n.id
		}
	}
	for _, n := range nodes {
		if r := c.byAddr(n.addr); n.master == id && !n.isMaster() && !n.failed() && r != nil {
			if ok, _ := r.Process().Exited(); !ok {
				return r
			}
		}
	}
	t.Fatalf("master %s of %q has no running replica", m.Addr, key)
	return nil
}

// Rejoin starts a killed node again; it rejoins as a replica of the master
// that replaced it. It waits until the whole cluster is healthy.
func (c *Cluster) Rejoin(t testing.TB, n *testenv.Redis) {
	t.Helper()
	n.Start(t)
	c.WaitHealthy(t)
}

// Do sends one command to the node at addr (see testenv.Redis.Do).
func (c *Cluster) Do(addr string, args ...string) (any, error) {
	n := c.byAddr(addr)
	if n == nil {
		return nil, fmt.Errorf("no node of the cluster listens on %s", addr)
	}
	return n.Do(args...)
}
