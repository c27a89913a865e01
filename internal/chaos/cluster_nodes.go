package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/natsbus"
)

// natsServerPrefix is how scripts/cluster.sh names NATS node i (from 1):
// textkit-nats-<i>.
const natsServerPrefix = "textkit-nats-"

// natsLeaders is who leads what in the JetStream cluster: the command
// stream's leader, and per node (0-based) how many of the relevant
// streams and consumers (the command and event streams and theirs) it
// leads.
type natsLeaders struct {
	commandStream int
	leads         [natsNodes]int
}

// natsLeadership asks JetStream who leads the command and event streams
// and their consumers.
func (s *Stack) natsLeadership(ctx context.Context) (natsLeaders, error) {
	out := natsLeaders{commandStream: -1}
	js, closeJS, err := s.jetStream()
	if err != nil {
		return out, err
	}
	defer closeJS()
	count := func(leader string) int {
		i, err := strconv.Atoi(strings.TrimPrefix(leader, natsServerPrefix))
		if err != nil || i < 1 || i > natsNodes {
			return -1
		}
		out.leads[i-1]++
		return i - 1
	}
	for _, name := range []string{natsbus.CommandStream, natsbus.EventStream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return out, fmt.Errorf("stream %s: %w", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil {
			return out, fmt.Errorf("stream %s: no cluster info (%w)", name, err)
		}
		if i := count(info.Cluster.Leader); name == natsbus.CommandStream {
			out.commandStream = i
		}
		lister := st.ListConsumers(ctx)
		for ci := range lister.Info() {
			if ci.Cluster != nil {
				count(ci.Cluster.Leader)
			}
		}
		if err := lister.Err(); err != nil {
			return out, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	if out.commandStream < 0 {
		return out, errors.New("the command stream has no leader")
	}
	return out, nil
}

// follower is the node that leads the fewest of the relevant streams and
// consumers, never the command stream's leader.
func (l natsLeaders) follower() int {
	best := -1
	for i, n := range l.leads {
		if i != l.commandStream && (best < 0 || n < l.leads[best]) {
			best = i
		}
	}
	return best
}

// redisNode is a client of Redis node i (from 0) alone.
func (s *Stack) redisNode(i int) *redis.Client {
	return newRedis(s.cfg.Ports.clusterAddr(cRedis, i), s.secrets["TEXTKIT_REDIS_PASSWORD"])
}

// redisNodeReady reports whether Redis node i answers and sees the
// cluster as whole (every slot served).
func (s *Stack) redisNodeReady(ctx context.Context, i int) error {
	c := s.redisNode(i)
	defer func() { _ = c.Close() }() // a probe
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("redis-%d: %w", i+1, err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fmt.Errorf("redis-%d: cluster state not ok", i+1)
	}
	return nil
}

// redisRole is node i's ROLE: "master" or "slave", and a replica's
// master's port.
func (s *Stack) redisRole(ctx context.Context, i int) (string, int, error) {
	c := s.redisNode(i)
	defer func() { _ = c.Close() }() // a probe
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", 0, fmt.Errorf("redis-%d role: %w", i+1, err)
	}
	if len(v) == 0 {
		return "", 0, fmt.Errorf("redis-%d role: empty answer", i+1)
	}
	role, _ := v[0].(string)
	var port int64
	if role == "slave" && len(v) > 2 {
		port, _ = v[2].(int64)
	}
	return role, int(port), nil
}

// redisLinkUp reports an error unless replica i's link to its master is
// up (INFO replication: master_link_status:up, after the initial sync).
func (s *Stack) redisLinkUp(ctx context.Context, i int) error {
	c := s.redisNode(i)
	defer func() { _ = c.Close() }() // a probe
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("redis-%d: %w", i+1, err)
	}
	if !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("redis-%d: replication link not up yet", i+1)
	}
	return nil
}

// redisIs reports an error unless node i's role is want.
func (s *Stack) redisIs(ctx context.Context, i int, want string) error {
	role, _, err := s.redisRole(ctx, i)
	if err != nil {
		return err
	}
	if role != want {
		return fmt.Errorf("redis-%d is a %s, not a %s", i+1, role, want)
	}
	return nil
}

// redisMaster is the first node (0-based) that is a master.
func (s *Stack) redisMaster(ctx context.Context) (int, error) {
	for i := range redisNodes {
		if s.redisIs(ctx, i, "master") == nil {
			return i, nil
		}
	}
	return -1, errors.New("no redis node is a master")
}

// redisReplicaOf is the node (0-based) that replicates master m.
func (s *Stack) redisReplicaOf(ctx context.Context, m int) (int, error) {
	for i := range redisNodes {
		role, port, err := s.redisRole(ctx, i)
		if err == nil && role == "slave" && port == s.cfg.Ports.clusterPort(cRedis, m) {
			return i, nil
		}
	}
	return -1, fmt.Errorf("redis-%d has no replica", m+1)
}

// waitFor polls check every 50 ms until it succeeds or limit passes.
func waitFor(ctx context.Context, what string, limit time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s: %w", what, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// vaultNode is the base URL of Vault node i (from 0).
func (s *Stack) vaultNode(i int) string { return "http://" + s.cfg.Ports.clusterAddr(cVault, i) }

// vaultNodeReady unseals Vault node i if it is sealed (a restarted one
// is) and reports whether it serves, as the active node or a standby.
func (s *Stack) vaultNodeReady(ctx context.Context, i int) error {
	health := httpOK(s.vaultNode(i) + "/v1/sys/health?standbyok=true&perfstandbyok=true")
	if err := health(ctx); err == nil {
		return nil
	}
	body := strings.NewReader(`{"key":"` + s.secrets["TEXTKIT_VAULT_UNSEAL_KEY"] + `"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.vaultNode(i)+"/v1/sys/unseal", body)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("vault-%d unseal: %w", i+1, err)
	}
	_ = resp.Body.Close() // status only
	return health(ctx)
}

// vaultActive is the active Vault node (0-based), as the first node that
// answers says.
func (s *Stack) vaultActive(ctx context.Context) (int, error) {
	var errs []error
	for i := range vaultNodes {
		addr, err := vaultLeader(ctx, s.vaultNode(i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for j := range vaultNodes {
			if addr == s.vaultNode(j) {
				return j, nil
			}
		}
		errs = append(errs, fmt.Errorf("vault-%d names leader %q, not a node of the stack", i+1, addr))
	}
	return -1, errors.Join(errs...)
}

// vaultLeader asks the node at base for the active node's address.
func vaultLeader(ctx context.Context, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/sys/leader", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }() // read below
	var v struct {
		LeaderAddress string `json:"leader_address"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", fmt.Errorf("%s/v1/sys/leader: %w", base, err)
	}
	if v.LeaderAddress == "" {
		return "", fmt.Errorf("%s/v1/sys/leader: no leader", base)
	}
	return v.LeaderAddress, nil
}
