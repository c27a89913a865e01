package chaos

import (
	"context"
	"strconv"
	"time"
)

// nodeRestartLimit bounds the wait for a restarted node or replica to be
// ready again.
const nodeRestartLimit = 2 * time.Minute

// How long the cluster faults take to end, at most on a small busy
// machine (Scenario.Ending): a NATS or Vault node's restart and catch-up,
// a Redis failover (cluster-node-timeout 5 s, then the election) and the
// old master's return, the restart of seven replicas one by one.
// natsHold is how long a NATS node stays down, in the short run too:
// longer than JetStream's randomised 4-9 s re-election of the leaders the
// node took with it, so that the fault's end (the node restarted and
// current) measures the restart's recovery, not an election still going
// on. The clients' cost of the elections is the error window.
const natsHold = 10 * time.Second

const (
	natsEnding    = 5 * time.Second
	redisEnding   = 10 * time.Second
	rollingEnding = 15 * time.Second
)

// ClusterScenarios lists the scenarios of the clustered stack (chaos
// -cluster), in the order they run. Each kills processes: none runs
// against an external stack.
func ClusterScenarios() []Scenario {
	return []Scenario{
		{Name: "cluster-kill-nats-follower", Ending: natsEnding, Description: "kill -9 the NATS node that leads the fewest of the command and event " +
			"streams and their consumers (never the command stream's leader), restart it when the fault ends",
			Hold: natsHold, Local: true, Crash: true, inject: killNATS(false)},
		{Name: "cluster-kill-nats-leader", Ending: natsEnding, Description: "kill -9 the NATS node leading the command stream, restart it when the fault ends",
			Hold: natsHold, Local: true, Crash: true, inject: killNATS(true)},
		{Name: "cluster-kill-redis-master", Ending: redisEnding, Description: "kill -9 a Redis master at once, its replica perhaps behind (what was " +
			"acknowledged it confirmed); when the fault ends, wait for its replica to take over, then restart the old master, which rejoins as a " +
			"replica (meanwhile the promoted master, without a live replica, takes writes on its append-only file alone)", Local: true, Crash: true, inject: killRedisMaster},
		{Name: "cluster-kill-vault-active", Ending: natsEnding, Description: "kill -9 the active Vault node (a standby takes over), restart and unseal it " +
			"when the fault ends", Mix: "terminate", Local: true, Crash: true, inject: killVaultActive},
		{Name: "cluster-rolling-deploy", Ending: rollingEnding, Description: "restart every service replica in turn (SIGTERM, start, wait for /readyz): " +
			"gateway 1-2, provisioner 1-3, retention 1-2", Local: true, Crash: true, inject: rollingDeploy},
	}
}

// killNode kills node name and returns the fault's end: start it again
// and wait until it is ready.
func (s *Stack) killNode(name string) (func(context.Context) error, error) {
	p := s.procs[name]
	if err := p.kill9(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if err := p.start(); err != nil {
			return err
		}
		return s.waitReady(ctx, name, nodeRestartLimit)
	}, nil
}

// killNATS kills the command stream's leader, or (leader false) the node
// leading the fewest relevant streams and consumers.
func killNATS(leader bool) func(context.Context, *Stack) (func(context.Context) error, error) {
	return func(ctx context.Context, s *Stack) (func(context.Context) error, error) {
		l, err := s.natsLeadership(ctx)
		if err != nil {
			return nil, err
		}
		i := l.follower()
		if leader {
			i = l.commandStream
		}
		return s.killNode("nats-" + strconv.Itoa(i+1))
	}
}

// killRedisMaster kills a master at once: nothing waits for its replica
// to catch up, since every write the services acknowledged was confirmed
// by it (redisstore's durable writes); a lost one shows as LOST. Its end
// waits for the failover (every
// node but the killed one sees the cluster whole, the replica a master),
// restarts the old master and waits until it is a replica and sees the
// cluster whole too.
func killRedisMaster(ctx context.Context, s *Stack) (func(context.Context) error, error) {
	m, err := s.redisMaster(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.redisReplicaOf(ctx, m)
	if err != nil {
		return nil, err
	}
	name := "redis-" + strconv.Itoa(m+1)
	p := s.procs[name]
	if err := p.kill9(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if err := waitFor(ctx, "redis-"+strconv.Itoa(r+1)+" promoted", nodeRestartLimit, func(ctx context.Context) error {
			return s.redisIs(ctx, r, "master")
		}); err != nil {
			return err
		}
		for i := range redisNodes {
			if i == m {
				continue
			}
			if err := waitFor(ctx, "failover seen by redis-"+strconv.Itoa(i+1), nodeRestartLimit, func(ctx context.Context) error {
				return s.redisNodeReady(ctx, i)
			}); err != nil {
				return err
			}
		}
		if err := p.start(); err != nil {
			return err
		}
		// Until its link to the new master is up (synced), that master
		// has no replica to confirm writes: its slots' writes still fail.
		return waitFor(ctx, name+" back as a replica, in sync", nodeRestartLimit, func(ctx context.Context) error {
			if err := s.redisIs(ctx, m, "slave"); err != nil {
				return err
			}
			if err := s.redisLinkUp(ctx, m); err != nil {
				return err
			}
			return s.redisNodeReady(ctx, m)
		})
	}, nil
}

// killVaultActive kills the active Vault node; the end restarts it and
// unseals it (waitReady does), and waits until some node is active again.
func killVaultActive(ctx context.Context, s *Stack) (func(context.Context) error, error) {
	a, err := s.vaultActive(ctx)
	if err != nil {
		return nil, err
	}
	end, err := s.killNode("vault-" + strconv.Itoa(a+1))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if err := end(ctx); err != nil {
			return err
		}
		return waitFor(ctx, "an active vault node", nodeRestartLimit, func(ctx context.Context) error {
			_, err := s.vaultActive(ctx)
			return err
		})
	}, nil
}

// rollingDeploy restarts every service replica in turn, each ready
// before the next; the fault's end waits for the last.
func rollingDeploy(ctx context.Context, s *Stack) (func(context.Context) error, error) {
	done := make(chan error, 1)
	go func() {
		for _, name := range clusterServices {
			if err := s.procs[name].restart(); err != nil {
				done <- err
				return
			}
			if err := s.waitReady(ctx, name, nodeRestartLimit); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return func(context.Context) error { return <-done }, nil
}

// SelectCluster returns the cluster scenarios named in names (all when
// empty).
func SelectCluster(names []string) ([]Scenario, error) {
	all := ClusterScenarios()
	if len(names) == 0 {
		return all, nil
	}
	return named(all, names, "cluster scenario %q (chaos -cluster -list names them)")
}
