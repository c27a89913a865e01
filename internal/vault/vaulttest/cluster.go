package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
)

// ClusterSize is the number of nodes StartCluster starts: the smallest
// raft cluster that survives losing one node.
const ClusterSize = 3

// Cluster is a Vault cluster of ClusterSize nodes with integrated storage
// (raft) on loopback, as scripts/up.sh --cluster runs it: node 0 was
// initialized (one key share), the others joined it through retry_join,
// and every node is unsealed. Any unsealed node serves requests (standbys
// forward them to the active node).
type Cluster struct {
	// Nodes are the cluster's servers; each keeps its address and
	// storage across Stop and Start, and comes back sealed from Start.
	Nodes []*Server
	// RootToken is the root token from node 0's initialization.
	RootToken string
	// UnsealKey is the cluster's single unseal key.
	UnsealKey string
}

// raftNode is what a Server of a Cluster needs beyond a persistent server.
type raftNode struct {
	id          string
	clusterPort int
	join        []string // every node's API address, for retry_join
}

// config is the node's vault.hcl: raft storage joining the other nodes,
// with raft's timing at its fastest (performance_multiplier 1), so a lost
// leader is replaced within seconds.
func (r *raftNode) config(s *Server, data string) string {
	var join strings.Builder
	for _, a := range r.join {
		fmt.Fprintf(&join, "  retry_join {\n    leader_api_addr = %q\n  }\n", a)
	}
	return fmt.Sprintf(`storage "raft" {
  path                   = %q
  node_id                = %q
  performance_multiplier = 1
%s}

listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}

api_addr      = %q
cluster_addr  = "https://127.0.0.1:%d"
disable_mlock = true
ui            = false
`, data, r.id, join.String(), s.port, r.clusterPort, s.Addr, r.clusterPort)
}

// StartCluster starts a ClusterSize-node raft Vault cluster for t,
// initializes it, unseals every node and waits until one is active and
// the others are standbys. t's cleanup stops every node and removes their
// directories.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := testenv.Binary(t, "vault")
	c := &Cluster{}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			if t.Failed() {
				t.Logf("vault node %s output:\n%s", n.Addr, n.Output())
			}
			n.close()
		}
	})
	if err := c.start(bin); err != nil {
		t.Fatalf("vaulttest: cluster: %v", err)
	}
	return c
}

// start creates, starts, initializes and unseals the nodes.
func (c *Cluster) start(bin string) error {
	var addrs []string
	for i := 0; i < ClusterSize; i++ {
		s, err := newNode(bin, i)
		if s != nil {
			c.Nodes = append(c.Nodes, s)
		}
		if err != nil {
			return err
		}
		addrs = append(addrs, s.Addr)
	}
	for _, s := range c.Nodes {
		s.raft.join = addrs
		if err := s.writeConfig(); err != nil {
			return err
		}
		if err := s.start(); err != nil {
			return fmt.Errorf("node %s: %w", s.raft.id, err)
		}
	}
	first := c.Nodes[0]
	if err := first.initialize(); err != nil {
		return err
	}
	c.RootToken, c.UnsealKey = first.RootToken, first.UnsealKey
	for i := range c.Nodes {
		if err := c.unsealNode(i); err != nil {
			return err
		}
	}
	if _, err := c.active(); err != nil {
		return err
	}
	return c.waitVoters()
}

// waitVoters shortens autopilot's stabilization time (joined nodes are
// non-voters until they were healthy that long; default 10s) and waits
// until every node is a voter: until then, losing the leader leaves no
// quorum to elect another.
func (c *Cluster) waitVoters() error {
	root, err := c.Nodes[0].client(c.RootToken)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := root.Logical().WriteWithContext(ctx, "sys/storage/raft/autopilot/configuration", map[string]any{
		"server_stabilization_time": "2s",
		"cleanup_dead_servers":      false,
	}); err != nil {
		return fmt.Errorf("raft autopilot configuration: %w", err)
	}
	return testenv.Poll(readyTimeout, func() error {
		sec, err := root.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
		if err != nil {
			return err
		}
		cfg, _ := sec.Data["config"].(map[string]any)
		servers, _ := cfg["servers"].([]any)
		voters := 0
		for _, s := range servers {
			if m, _ := s.(map[string]any); m["voter"] == true {
				voters++
			}
		}
		if voters != len(c.Nodes) {
			return fmt.Errorf("%d of %d raft servers are voters", voters, len(c.Nodes))
		}
		return nil
	})
}

// newNode makes node i's directory and ports; its config is written once
// every node's address is known.
func newNode(bin string, i int) (*Server, error) {
	s, err := prepare(bin, true, 0)
	if err != nil {
		return nil, err
	}
	cp, err := testenv.FreeLoopbackPort()
	if err != nil {
		return s, err
	}
	s.raft = &raftNode{id: "node" + strconv.Itoa(i+1), clusterPort: cp}
	return s, nil
}

// unsealNode unseals node i with the cluster's key, retrying while a
// joining node has not reached the cluster yet, and waits until it is
// unsealed (active or standby).
func (c *Cluster) unsealNode(i int) error {
	s := c.Nodes[i]
	s.RootToken, s.UnsealKey = c.RootToken, c.UnsealKey
	cl, err := s.client("")
	if err != nil {
		return err
	}
	return testenv.Poll(readyTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := cl.Sys().SealStatusWithContext(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("node %s seal status: %w", s.raft.id, err)
		case !st.Sealed:
			return nil
		}
		if _, err := cl.Sys().UnsealWithContext(ctx, c.UnsealKey); err != nil {
			return fmt.Errorf("node %s unseal: %w", s.raft.id, err)
		}
		return fmt.Errorf("node %s still sealed", s.raft.id)
	})
}

// active polls until exactly one running node is active and every other
// running node is an unsealed standby, and returns the active node's
// index.
func (c *Cluster) active() (int, error) {
	idx := -1
	err := testenv.Poll(readyTimeout, func() error {
		idx = -1
		for i, s := range c.Nodes {
			if !s.running() {
				continue
			}
			cl, err := s.client("")
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			h, err := cl.Sys().HealthWithContext(ctx)
			cancel()
			switch {
			case err != nil:
				return fmt.Errorf("node %s: %w", s.raft.id, err)
			case !h.Initialized || h.Sealed:
				return fmt.Errorf("node %s: initialized=%v sealed=%v", s.raft.id, h.Initialized, h.Sealed)
			case !h.Standby && idx >= 0:
				return fmt.Errorf("nodes %s and %s both say they are active", c.Nodes[idx].raft.id, s.raft.id)
			case !h.Standby:
				idx = i
			}
		}
		if idx < 0 {
			return errors.New("no node is active")
		}
		return nil
	})
	return idx, err
}

// running reports whether the server's process was started and has not
// been stopped or killed.
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	exited, _ := s.proc.Exited()
	return !exited
}

// Active waits until the running nodes agree on one active node (the
// others unsealed standbys) and returns its index in Nodes.
func (c *Cluster) Active(t testing.TB) int {
	t.Helper()
	i, err := c.active()
	if err != nil {
		t.Fatalf("vaulttest: cluster: %v", err)
	}
	return i
}

// Kill kills node i with SIGKILL (a crash: no step-down, no flush); its
// address then refuses connections until Start.
func (c *Cluster) Kill(t testing.TB, i int) {
	t.Helper()
	s := c.Nodes[i]
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc != nil {
		_, _ = fmt.Fprintf(s.out, "--- vaulttest: killing pid %d (SIGKILL)\n", proc.Pid())
		proc.Kill(t)
	}
}

// Start starts a stopped or killed node i again and unseals it; it
// rejoins the cluster as a standby.
func (c *Cluster) Start(t testing.TB, i int) {
	t.Helper()
	c.Nodes[i].Start(t)
	if err := c.unsealNode(i); err != nil {
		t.Fatalf("vaulttest: cluster: %v", err)
	}
}

// Addrs is every node's address, comma-separated, in Nodes order: the
// value of TEXTKIT_VAULT_ADDR for the cluster.
func (c *Cluster) Addrs() string {
	var a []string
	for _, s := range c.Nodes {
		a = append(a, s.Addr)
	}
	return strings.Join(a, ",")
}

// Root returns an API client of the active node, authenticated with the
// root token.
func (c *Cluster) Root(t testing.TB) *api.Client {
	t.Helper()
	return c.Nodes[c.Active(t)].Root(t)
}

// Bootstrap runs vault.Bootstrap on the active node with the root token
// and returns the service tokens.
func (c *Cluster) Bootstrap(t testing.TB) vault.ServiceTokens {
	t.Helper()
	return c.Nodes[c.Active(t)].Bootstrap(t)
}

// Client returns a transit adapter of the whole cluster (Addrs)
// authenticated with token.
func (c *Cluster) Client(t testing.TB, token string) *vault.Client {
	t.Helper()
	cl, err := vault.New(vault.Config{Addr: c.Addrs(), Token: token})
	if err != nil {
		t.Fatalf("vaulttest: cluster client: %v", err)
	}
	return cl
}
