package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/textkit/customers/internal/failure"
)

// Durable writes. Redis replicates asynchronously: a write its master
// answered, lost with the master before a replica got it, is gone once
// the replica is promoted. So every write the services acknowledge, or
// whose loss would break an invariant, goes through durably: on a
// deployment with replicas it runs in a pipeline on the master of its
// keys, followed on the same connection by WAIT (which covers the writes
// of its own connection), and fails unless enough replicas confirmed it.
// Without replicas (a single redis-server) the write is sent as before,
// with no extra round trip: the append-only file fsynced on every write
// is its durability.
//
// A master whose every replica the cluster agrees is dead takes writes
// without one (sendOnMaster): no replica could be promoted without them.
//
// A write that WAIT could not confirm is on the master already; the
// error is transient, the caller is not told it succeeded, and the retry
// (every durable write is idempotent) is answered once a replica
// confirms. A retry that finds its work done writes all the same (the
// scripts rewrite what they found), since WAIT only covers what its own
// connection wrote.

// AutoReplicaAcks is the MinReplicaAcks setting "auto": 1 on a Redis
// Cluster with replicas, 0 otherwise.
const AutoReplicaAcks = -1

// MaxReplicaAcks bounds the MinReplicaAcks setting.
const MaxReplicaAcks = 5

// ReplicaAckTimeout is how long a durable write waits for its replicas
// (WAIT's timeout) before it fails; less when the caller's context has
// less than twice that left (waitTimeout).
const ReplicaAckTimeout = time.Second

// ErrReplicaAcks means fewer replicas than required confirmed a write
// within ReplicaAckTimeout (the master has no live replica, or it lags):
// the write is on the master but could be lost with it. It is transient.
var ErrReplicaAcks = errors.New("too few redis replicas confirmed the write")

var replicaAckShortfalls = promauto.NewCounter(prometheus.CounterOpts{
	Name: "textkit_redis_replica_ack_shortfalls_total",
	Help: "Redis writes that fewer replicas confirmed than TEXTKIT_REDIS_MIN_REPLICA_ACKS requires (failed, to be retried).",
})

var unreplicatedWrites = promauto.NewCounter(prometheus.CounterOpts{
	Name: "textkit_redis_unreplicated_writes_total",
	Help: "Redis writes accepted without a replica's confirmation because their master had no live replica (every replica it lists failed): durable on its append-only file only.",
})

// orphanWait bounds WAIT on a master last found without a live replica:
// a replica back and in sync answers within it; one that does not has the
// master asked again.
const orphanWait = 10 * time.Millisecond

// ParseMinReplicaAcks reads the TEXTKIT_REDIS_MIN_REPLICA_ACKS setting:
// "auto" (or empty) for AutoReplicaAcks, or a whole number from 0 to
// MaxReplicaAcks.
func ParseMinReplicaAcks(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "auto" {
		return AutoReplicaAcks, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > MaxReplicaAcks {
		return 0, fmt.Errorf("TEXTKIT_REDIS_MIN_REPLICA_ACKS is %q: want auto or a whole number from 0 to %d", v, MaxReplicaAcks)
	}
	return n, nil
}

// Option configures a Store.
type Option func(*Store)

// WithMinReplicaAcks makes every durable write wait for n replicas
// (AutoReplicaAcks: 1 on a Redis Cluster with replicas, 0 otherwise,
// which is the default).
func WithMinReplicaAcks(n int) Option {
	return func(s *Store) { s.acksSetting = n }
}

// acks is the resolved MinReplicaAcks setting.
type acks struct {
	mu       sync.Mutex
	resolved bool
	n        int
}

// ReplicaAcks returns how many replicas each durable write waits for,
// resolving "auto" against the deployment, and checks an explicit
// setting against it: every master must have that many replicas (on a
// cluster, as CLUSTER NODES lists them, failed or not; on one server,
// connected now). Services call it at start, so that a setting the
// deployment cannot meet is refused there.
func (s *Store) ReplicaAcks(ctx context.Context) (int, error) {
	n, err := s.replicaAcks(ctx)
	if err != nil || s.acksSetting == AutoReplicaAcks || n == 0 {
		return n, err
	}
	least, where, err := fewestReplicas(ctx, s.rdb)
	if err != nil {
		return 0, err
	}
	if least < n {
		return 0, fmt.Errorf("TEXTKIT_REDIS_MIN_REPLICA_ACKS is %d but redis %s has %d replicas: every write would fail", n, where, least)
	}
	return n, nil
}

// replicaAcks is the setting, "auto" resolved once (not cached while the
// deployment cannot be asked).
func (s *Store) replicaAcks(ctx context.Context) (int, error) {
	if s.acksSetting != AutoReplicaAcks {
		return s.acksSetting, nil
	}
	s.acks.mu.Lock()
	defer s.acks.mu.Unlock()
	if s.acks.resolved {
		return s.acks.n, nil
	}
	n := 0
	if _, ok := s.rdb.(*redis.ClusterClient); ok {
		least, _, err := fewestReplicas(ctx, s.rdb)
		if err != nil {
			return 0, err
		}
		n = min(least, 1)
	}
	s.acks.n, s.acks.resolved = n, true
	return n, nil
}

// fewestReplicas returns the fewest replicas a master has, and which
// master that is: on a cluster every master serving slots, with the
// replicas CLUSTER NODES lists (failed ones too: a replica down for a
// while does not change the setting); on one server its connected ones.
func fewestReplicas(ctx context.Context, rdb redis.UniversalClient) (int, string, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		n, err := connectedReplicas(ctx, rdb)
		if err != nil {
			return 0, "", err
		}
		where := "server"
		if c, ok := rdb.(*redis.Client); ok {
			where = "server " + c.Options().Addr
		}
		return n, where, nil
	}
	nodes, err := listClusterNodes(ctx, cc)
	if err != nil {
		return 0, "", fmt.Errorf("count redis replicas: %w", err)
	}
	least, where := -1, ""
	for _, m := range nodes {
		if !m.is("master") || !m.servesSlots {
			continue
		}
		n := replicasOf(m.id, nodes)
		if !m.gone() {
			// Right after a replica joins, other nodes may still list it
			// as a master of nothing: the master's own view, and its
			// connected replicas, know first.
			n = max(n, ownReplicas(ctx, cc, m))
		}
		if least < 0 || n < least {
			least, where = n, "master "+m.addr
		}
	}
	if least < 0 {
		return 0, "", errors.New("count redis replicas: CLUSTER NODES lists no master serving slots")
	}
	return least, where, nil
}

// replicasOf counts the replicas of the master id among nodes.
func replicasOf(id string, nodes []clusterNode) int {
	n := 0
	for _, r := range nodes {
		if r.is("slave") && r.master == id {
			n++
		}
	}
	return n
}

// ownReplicas is how many replicas the master m knows it has: the most
// of those its CLUSTER NODES lists and those connected to it; 0 when it
// cannot be asked.
func ownReplicas(ctx context.Context, cc *redis.ClusterClient, m clusterNode) int {
	c := probe(cc, m.addr)
	// a probe: its close error changes nothing
	defer func() { _ = c.Close() }()
	n := 0
	if own, err := listClusterNodes(ctx, c); err == nil {
		n = replicasOf(m.id, own)
	}
	if connected, err := connectedReplicas(ctx, c); err == nil {
		n = max(n, connected)
	}
	return n
}

// connectedReplicas is the number of replicas connected to one server.
func connectedReplicas(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	info, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return 0, fmt.Errorf("count redis replicas: %w", err)
	}
	n, _ := strconv.Atoi(infoValue(info, "connected_slaves"))
	return n, nil
}

func infoValue(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// write is one step of a durable write: queue adds its commands to a
// pipeline (and keeps them, to read their answers once durably returns);
// every key they touch is in key's slot, so they run on its master.
type write struct {
	key string
	// scripts are the scripts queue runs (with EVALSHA), loaded again
	// when Redis answers NOSCRIPT.
	scripts []*redis.Script
	queue   func(redis.Pipeliner)
}

// durableAttempts bounds how often durably sends a write after a redirect
// (a failover moved its slot): the callers have deadlines of their own.
const durableAttempts = 3

// durably sends writes, each on its key's master, and waits until the
// required replicas confirmed them (WAIT on the same connection). It
// returns an error when the writes could not be sent or confirmed, or
// the first error Redis answered to one of their commands (redis.Nil is
// an answer, not an error); the commands hold their answers.
func (s *Store) durably(ctx context.Context, writes ...write) error {
	n, err := s.replicaAcks(ctx)
	if err != nil {
		return err
	}
	cc, isCluster := s.rdb.(*redis.ClusterClient)
	if n == 0 || !isCluster {
		return sendWaiting(ctx, s.rdb, n, writes)
	}
	for attempt := 1; ; attempt++ {
		groups, err := byMaster(ctx, cc, writes)
		if err != nil {
			return err
		}
		var mu sync.Mutex
		var again []write
		var g errgroup.Group
		for node, ws := range groups {
			g.Go(func() error {
				err := s.sendOnMaster(ctx, node, n, ws)
				if err != nil && redirected(err) && attempt < durableAttempts {
					mu.Lock()
					defer mu.Unlock()
					again = append(again, ws...)
					return nil
				}
				return err
			})
		}
		if err := g.Wait(); err != nil || len(again) == 0 {
			return err
		}
		cc.ReloadState(ctx)
		if err := sleep(ctx, time.Duration(attempt)*100*time.Millisecond); err != nil {
			return err
		}
		writes = again
	}
}

// sendOnMaster sends writes durably on their master. A master that has no
// live replica (after a failover, until the old master comes back as its
// replica; or after its replica died) cannot be confirmed by one: its
// writes are accepted without, as on a single server, durable on its
// append-only file (fsynced on every write), rather than refused until an
// operator brings a replica back. Nothing is lost that way when that
// master crashes: with no replica that could be promoted in its place its
// slots wait for it, and it restarts with every write it acknowledged.
// A replica only counts as dead once the cluster agrees (the FAIL flag,
// after cluster-node-timeout): one this master merely cannot reach (a
// partition) could still be promoted, so its writes fail as transient
// meanwhile.
func (s *Store) sendOnMaster(ctx context.Context, node *redis.Client, n int, writes []write) error {
	addr := node.Options().Addr
	maxWait := time.Duration(0)
	if _, ok := s.orphans.Load(addr); ok {
		maxWait = orphanWait
	}
	err := sendWaitingAtMost(ctx, node, n, writes, maxWait)
	if !errors.Is(err, ErrReplicaAcks) {
		return err
	}
	// Asked after the write: a replica that attaches later gets it in
	// its sync.
	orphan, oerr := hasNoLiveReplica(ctx, node)
	if oerr != nil || !orphan {
		s.orphans.Delete(addr)
		if maxWait > 0 && oerr == nil {
			// A replica is back: the writes again (they are idempotent),
			// waiting for it as long as usual.
			err = sendWaitingAtMost(ctx, node, n, writes, 0)
		}
		if errors.Is(err, ErrReplicaAcks) {
			replicaAckShortfalls.Inc()
		}
		return err
	}
	s.orphans.Store(addr, struct{}{})
	unreplicatedWrites.Inc()
	return nil
}

// hasNoLiveReplica asks master whether it has no replica the cluster does
// not agree is dead (flag fail): every replica it lists failed, or none.
func hasNoLiveReplica(ctx context.Context, master *redis.Client) (bool, error) {
	nodes, err := listClusterNodes(ctx, master)
	if err != nil {
		return false, err
	}
	me := ""
	for _, n := range nodes {
		if n.is("myself") {
			if !n.is("master") {
				return false, nil // no longer a master: the redirect says so
			}
			me = n.id
		}
	}
	if me == "" {
		return false, errors.New("CLUSTER NODES does not say which node is asked")
	}
	for _, n := range nodes {
		if n.is("slave") && n.master == me && !n.is("fail") {
			return false, nil
		}
	}
	return true, nil
}

// byMaster groups writes by the master of their key.
func byMaster(ctx context.Context, cc *redis.ClusterClient, writes []write) (map[*redis.Client][]write, error) {
	groups := map[*redis.Client][]write{}
	for _, w := range writes {
		m, err := cc.MasterForKey(ctx, w.key)
		if err != nil {
			return nil, fmt.Errorf("find the redis master of %s: %w", w.key, err)
		}
		groups[m] = append(groups[m], w)
	}
	return groups, nil
}

// sendWaiting sends writes in one pipeline on c, followed by WAIT for n
// replicas when n > 0, once more after loading the scripts if Redis
// answered NOSCRIPT.
func sendWaiting(ctx context.Context, c redis.UniversalClient, n int, writes []write) error {
	err := sendWaitingAtMost(ctx, c, n, writes, 0)
	if errors.Is(err, ErrReplicaAcks) {
		replicaAckShortfalls.Inc()
	}
	return err
}

// sendWaitingAtMost is sendWaiting with WAIT's timeout at most maxWait
// (0: waitTimeout's), counting no shortfall.
func sendWaitingAtMost(ctx context.Context, c redis.UniversalClient, n int, writes []write, maxWait time.Duration) error {
	err := send(ctx, c, n, writes, maxWait)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := loadScripts(ctx, c, writes); err != nil {
			return err
		}
		err = send(ctx, c, n, writes, maxWait)
	}
	return err
}

// send is one attempt of sendWaitingAtMost.
func send(ctx context.Context, c redis.UniversalClient, n int, writes []write, maxWait time.Duration) error {
	pipe := c.Pipeline()
	for _, w := range writes {
		w.queue(pipe)
	}
	if n == 0 && pipe.Len() == 1 {
		// One command and nothing to wait for: sent as it is, as before
		// durable writes (and traced as itself).
		cmd := pipe.Cmds()[0]
		pipe.Discard()
		if err := c.Process(ctx, cmd); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	}
	var wait *redis.IntCmd
	timeout := waitTimeout(ctx)
	if maxWait > 0 {
		timeout = min(timeout, maxWait)
	}
	if n > 0 {
		// WAIT is not in redis.Pipeliner; the pipeline's read timeout
		// (3 s by default) outlasts ReplicaAckTimeout.
		wait = redis.NewIntCmd(ctx, "wait", n, timeout.Milliseconds())
		_ = pipe.Process(ctx, wait) // queues it: no error before Exec
	}
	cmds, _ := pipe.Exec(ctx) // each command's error is read by firstError
	if err := firstError(cmds); err != nil || wait == nil {
		return err
	}
	if got := wait.Val(); got < int64(n) {
		return fmt.Errorf("%w: %w: %d of %d within %s", failure.ErrTransient, ErrReplicaAcks, got, n, timeout)
	}
	return nil
}

// waitTimeout is WAIT's timeout: ReplicaAckTimeout, or half the time ctx
// has left if that is less (at least a millisecond: WAIT 0 waits for
// ever), so that a write no replica confirms fails as such (transient,
// ErrReplicaAcks) while the caller still has time to answer, rather than
// as the caller's own deadline.
func waitTimeout(ctx context.Context) time.Duration {
	d := ReplicaAckTimeout
	if deadline, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(deadline)/2)
	}
	return max(d.Truncate(time.Millisecond), time.Millisecond)
}

// firstError returns the error that fails a pipeline's commands: a failure
// to send them or read their answers, a redirect or NOSCRIPT first, else
// the first error Redis answered (redis.Nil is an answer, not an error).
func firstError(cmds []redis.Cmder) error {
	var replyErr error
	for _, cmd := range cmds {
		err := cmd.Err()
		switch {
		case err == nil || errors.Is(err, redis.Nil):
		case redis.HasErrorPrefix(err, "NOSCRIPT") || redirected(err) || !isReply(err):
			return err
		case replyErr == nil:
			replyErr = err
		}
	}
	return replyErr
}

func loadScripts(ctx context.Context, c redis.Cmdable, writes []write) error {
	for _, w := range writes {
		for _, sc := range w.scripts {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return fmt.Errorf("load script: %w", err)
			}
		}
	}
	return nil
}

// isReply says whether err is Redis' answer to a command (an error reply
// or nil), rather than a failure to send it or read its answer.
func isReply(err error) bool {
	var re redis.Error
	return errors.Is(err, redis.Nil) || errors.As(err, &re)
}

// redirected says whether err means the command reached a node that does
// not serve its slot (now): a failover or a resharding moved it. A node
// that does not answer at all (a dead master) is not retried here: the
// call fails at once, as the cluster client's own commands do, and the
// node's failure has the client reload the layout (FollowFailovers) for
// the caller's retry.
func redirected(err error) bool {
	for _, p := range []string{"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "LOADING", "MASTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return strings.Contains(err.Error(), "WAIT cannot be used with replica instances")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// runScript is sc.Run, durably: the script's answer, or the error that
// kept it from being sent or confirmed.
func (s *Store) runScript(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	var cmd *redis.Cmd
	err := s.durably(ctx, write{key: keys[0], scripts: []*redis.Script{sc}, queue: func(p redis.Pipeliner) {
		cmd = p.EvalSha(ctx, sc.Hash(), keys, args...)
	}})
	if err != nil {
		cmd = redis.NewCmd(ctx)
		cmd.SetErr(err)
	}
	return cmd
}

// writeDurably sends the commands queue adds, all on key's slot,
// durably.
func (s *Store) writeDurably(ctx context.Context, key string, queue func(redis.Pipeliner)) error {
	return s.durably(ctx, write{key: key, queue: queue})
}

// zaddScript adds ARGV[2] at score ARGV[1] to the sorted set KEYS[1]; when
// that changes nothing (the member is there with that score) it removes
// and adds the member again, a write WAIT can confirm.
var zaddScript = redis.NewScript(`
if redis.call('ZADD', KEYS[1], 'CH', ARGV[1], ARGV[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
return 1`)

// zaddWrite is zaddScript adding member at score to key, as a write.
func zaddWrite(ctx context.Context, key string, score float64, member string) write {
	return write{key: key, scripts: []*redis.Script{zaddScript}, queue: func(p redis.Pipeliner) {
		p.EvalSha(ctx, zaddScript.Hash(), []string{key}, score, member)
	}}
}
