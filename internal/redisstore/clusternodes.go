package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr string
	flags    []string
	// master is the id of the master a replica follows ("-" for a master).
	master string
	// servesSlots says whether a master serves slots.
	servesSlots bool
}

func (n clusterNode) is(flag string) bool { return slices.Contains(n.flags, flag) }

// gone says whether the node is known to be down or not yet part of the
// cluster: failed (by quorum or as this node sees it), without an
// address, or still in handshake.
func (n clusterNode) gone() bool {
	return n.is("fail") || n.is("fail?") || n.is("noaddr") || n.is("handshake")
}

// listClusterNodes asks the cluster (one node of it) for CLUSTER NODES.
// Unlike the cluster client's slot map, which lists a node only once
// CLUSTER SLOTS names it, the list has every node the cluster knows,
// with its state.
func listClusterNodes(ctx context.Context, rdb redis.UniversalClient) ([]clusterNode, error) {
	reply, err := rdb.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("list the redis cluster's nodes: %w", err)
	}
	return parseClusterNodes(reply), nil
}

// parseClusterNodes reads CLUSTER NODES' reply; malformed lines are left
// out.
func parseClusterNodes(reply string) []clusterNode {
	var nodes []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(reply), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",") // a hostname may follow
		nodes = append(nodes, clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","), master: f[3], servesSlots: len(f) > 8})
	}
	return nodes
}

// probe is a connection of its own to the cluster node at addr, with the
// cluster client's credentials, that does not retry: for a question to
// that node only.
func probe(cc *redis.ClusterClient, addr string) *redis.Client {
	opt := cc.Options()
	return redis.NewClient(&redis.Options{Addr: addr, Username: opt.Username, Password: opt.Password,
		TLSConfig: opt.TLSConfig, Dialer: opt.Dialer, DialTimeout: opt.DialTimeout, MaxRetries: -1})
}
