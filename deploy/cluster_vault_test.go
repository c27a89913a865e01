package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
)

// newVaultClusterScripts prepares the three Vault nodes of the compose
// cluster profile as `vault.sh run` processes on loopback: cluster.hcl,
// TEXTKIT_VAULT_NODES, one keys file shared like the vault-cluster-keys
// volume.
func newVaultClusterScripts(t *testing.T) ([]*vaultScript, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three Vault nodes")
	}
	bin := testenv.Binary(t, "vault")
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys", "unseal.env")
	var ports, cluster []int
	for _, p := range freeDistinctPorts(t, 6) {
		if len(ports) < 3 {
			ports = append(ports, p)
		} else {
			cluster = append(cluster, p)
		}
	}
	var addrs []string
	for _, p := range ports {
		addrs = append(addrs, fmt.Sprintf("http://127.0.0.1:%d", p))
	}
	var nodes []*vaultScript
	for i := range ports {
		nd := filepath.Join(dir, fmt.Sprintf("vault-%d", i+1))
		nodes = append(nodes, &vaultScript{t: t, dir: nd, addr: addrs[i], tmpl: "deploy/vault/cluster.hcl", keys: keys, wait: 4 * time.Minute, env: []string{
			"HOME=" + nd,
			"VAULT_ADDR=" + addrs[i],
			"TEXTKIT_VAULT_BIN=" + bin,
			"TEXTKIT_WAIT_SECONDS=240",
			"TEXTKIT_VAULT_STORAGE_DIR=" + filepath.Join(nd, "file", "raft"),
			fmt.Sprintf("TEXTKIT_VAULT_NODE_ID=textkit-vault-%d", i+1),
			"TEXTKIT_VAULT_JOIN_1=" + addrs[0],
			"TEXTKIT_VAULT_JOIN_2=" + addrs[1],
			"TEXTKIT_VAULT_JOIN_3=" + addrs[2],
			fmt.Sprintf("TEXTKIT_VAULT_LISTEN=127.0.0.1:%d", ports[i]),
			fmt.Sprintf("TEXTKIT_VAULT_CLUSTER_LISTEN=127.0.0.1:%d", cluster[i]),
			"TEXTKIT_VAULT_API_ADDR=" + addrs[i],
			fmt.Sprintf("TEXTKIT_VAULT_CLUSTER_ADDR=https://127.0.0.1:%d", cluster[i]),
			"TEXTKIT_VAULT_ROOT_TOKEN=test-root-cluster",
			"TEXTKIT_VAULT_NODES=" + strings.Join(addrs, ","),
		}})
	}
	return nodes, strings.Join(addrs, ",")
}

// freeDistinctPorts returns n different free loopback ports.
func freeDistinctPorts(t *testing.T, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	var out []int
	for len(out) < n {
		if p := testenv.FreePort(t); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// TestVaultScriptRunsACluster checks the compose cluster profile's Vault
// entrypoint without Docker: three `vault.sh run` started together make
// one cluster (node 1 initialises it, the others join and unseal
// themselves from the shared keys file), and after all three stop they
// come back together, unsealed, with their transit keys.
func TestVaultScriptRunsACluster(t *testing.T) {
	nodes, addrs := newVaultClusterScripts(t)
	for _, n := range nodes {
		n.launch()
	}
	for i, n := range nodes {
		out := n.waitReady(t, false)
		if got := strings.Contains(out, "initialising"); got != (i == 0) {
			t.Errorf("node %d initialised the cluster: %v, want %v:\n%s", i+1, got, i == 0, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	checkRoot(t, nodes[0].client(t, "test-root-cluster"))
	tokens, err := vault.Bootstrap(ctx, nodes[1].client(t, "test-root-cluster")) // a standby forwards
	if err != nil {
		t.Fatalf("vault.Bootstrap through node 2: %v", err)
	}
	client := func(token string) *vault.Client {
		c, err := vault.New(vault.Config{Addr: addrs, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	retention, gateway := client(tokens.Retention), client(tokens.Gateway)
	const id = "3f0e2f63-8a41-4a39-9a57-0e6b1f3a2c11"
	if err := retention.CreateKey(ctx, id); err != nil {
		t.Fatalf("create key: %v", err)
	}
	ct, err := gateway.Encrypt(ctx, id, []byte("contact info"))
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}

	for _, n := range nodes {
		n.stop(t)
	}
	for _, n := range nodes {
		n.launch()
	}
	for i, n := range nodes {
		if out := n.waitReady(t, false); strings.Contains(out, "initialising") {
			t.Errorf("node %d initialised the cluster again:\n%s", i+1, out)
		}
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		got, err := gateway.Decrypt(ctx, id, ct)
		if err != nil {
			return err
		}
		if string(got) != "contact info" {
			return fmt.Errorf("decrypt after the restart = %q", got)
		}
		return nil
	})
}
