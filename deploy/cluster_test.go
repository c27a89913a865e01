package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// clusterServices are the services of the `cluster` profile (the clustered
// stack of scripts/up.sh --cluster) by what they run: an upstream image
// ("nats", "redis", "vault", "redis-cli") or our binary.
var clusterServices = map[string]string{
	"nats-1": "nats", "nats-2": "nats", "nats-3": "nats",
	"redis-1": "redis", "redis-2": "redis", "redis-3": "redis", "redis-4": "redis", "redis-5": "redis", "redis-6": "redis",
	"redis-cluster-create": "redis-cli",
	"vault-1":              "vault", "vault-2": "vault", "vault-3": "vault",
	"cluster-vault-init": "textkit", "cluster-seed": "textkit", "cluster-twilio-emulator": "twilio-emulator",
	"provisioner-1": "provisioner", "provisioner-2": "provisioner", "provisioner-3": "provisioner",
	"retention-1": "retention", "retention-2": "retention",
	"gateway-1": "gateway", "gateway-2": "gateway",
}

// clusterPortOwners says which services publish the ports of each
// TEXTKIT_CLUSTER_*_PORTS list of scripts/lib.sh (the i-th port the i-th
// service), and which variable of theirs listens on it ("" for none). A
// flag instead names the command-line flag that sets a port the service
// uses inside the network only (not published).
var clusterPortOwners = map[string]struct{ prefix, listen, flag string }{
	"TEXTKIT_CLUSTER_NATS_PORTS":            {"nats-", "TEXTKIT_NATS_LISTEN", ""},
	"TEXTKIT_CLUSTER_NATS_MONITOR_PORTS":    {"nats-", "TEXTKIT_NATS_MONITOR_LISTEN", ""},
	"TEXTKIT_CLUSTER_NATS_ROUTE_PORTS":      {"nats-", "TEXTKIT_NATS_CLUSTER_LISTEN", ""},
	"TEXTKIT_CLUSTER_REDIS_PORTS":           {"redis-", "", ""},
	"TEXTKIT_CLUSTER_REDIS_BUS_PORTS":       {"redis-", "", "--cluster-port"},
	"TEXTKIT_CLUSTER_VAULT_PORTS":           {"vault-", "TEXTKIT_VAULT_LISTEN", ""},
	"TEXTKIT_CLUSTER_VAULT_CLUSTER_PORTS":   {"vault-", "TEXTKIT_VAULT_CLUSTER_LISTEN", ""},
	"TEXTKIT_CLUSTER_TWILIO_EMULATOR_PORTS": {"cluster-twilio-emulator", "TEXTKIT_TWILIO_EMULATOR_ADDR", ""},
	"TEXTKIT_CLUSTER_GATEWAY_PORTS":         {"gateway-", "TEXTKIT_HTTP_ADDR", ""},
	"TEXTKIT_CLUSTER_GATEWAY_OPS_PORTS":     {"gateway-", "TEXTKIT_OPS_ADDR", ""},
	"TEXTKIT_CLUSTER_PROVISIONER_PORTS":     {"provisioner-", "TEXTKIT_HTTP_ADDR", ""},
	"TEXTKIT_CLUSTER_RETENTION_PORTS":       {"retention-", "TEXTKIT_HTTP_ADDR", ""},
}

// clusterPortLists reads the TEXTKIT_CLUSTER_*_PORTS defaults of
// scripts/lib.sh.
func clusterPortLists(t *testing.T) map[string][]int {
	t.Helper()
	lib, err := os.ReadFile(filepath.Join(root, "scripts/lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string][]int{}
	for _, m := range regexp.MustCompile(`(?m)^: "\$\{(TEXTKIT_CLUSTER_[A-Z_]+_PORTS):=([0-9,]+)\}"`).FindAllStringSubmatch(string(lib), -1) {
		for _, p := range strings.Split(m[2], ",") {
			lists[m[1]] = append(lists[m[1]], atoi(p))
		}
	}
	return lists
}

// TestComposeClusterProfile checks the `cluster` profile against
// scripts/up.sh --cluster: the same topology (3 NATS, 6 Redis, 3 Vault, 2
// gateways, 3 provisioners, 2 retention), only with the profile, on the
// ports of scripts/lib.sh's TEXTKIT_CLUSTER_*_PORTS, each of our services
// given documented settings and the seed lists of every node.
func TestComposeClusterProfile(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		_, cl := clusterServices[name]
		if slices.Contains(s.Profiles, "cluster") && !cl {
			t.Errorf("%s is in the cluster profile but not in clusterServices", name)
		}
	}
	for _, name := range sortedKeys(clusterServices) {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("docker-compose.yml has no service %s (profile cluster)", name)
			continue
		}
		if !slices.Equal(s.Profiles, []string{"cluster"}) {
			t.Errorf("%s: profiles %v, want [cluster]", name, s.Profiles)
		}
		switch what := clusterServices[name]; what {
		case "nats", "redis", "vault":
			if s.Image != c.Services[what].Image {
				t.Errorf("%s: image %q, want the single %s's %q", name, s.Image, what, c.Services[what].Image)
			}
		case "redis-cli":
			if s.Image != c.Services["redis"].Image || !strings.Contains(strings.Join(s.Command, " "), "--cluster create") ||
				!strings.Contains(strings.Join(s.Command, " "), "--cluster-replicas 1") {
				t.Errorf("%s must run redis-cli --cluster create … --cluster-replicas 1 from the redis image", name)
			}
		default:
			if s.Image != c.Services["gateway"].Image || s.Build == nil || binaryOf(s) != what {
				t.Errorf("%s: want our image running %s, got image %q command %q", name, what, s.Image, s.Command)
			}
		}
	}
	checkClusterPorts(t, c)
	checkClusterSeedLists(t, c)
	checkClusterOurSettings(t, c)
	checkClusterNodeConfigs(t, c)
}

// checkClusterPorts: every cluster service publishes exactly its ports of
// the lib.sh lists on 127.0.0.1, and listens on them inside the network.
func checkClusterPorts(t *testing.T, c composeFile) {
	t.Helper()
	lists := clusterPortLists(t)
	want := map[string][]string{}
	for _, v := range sortedKeys(clusterPortOwners) {
		o := clusterPortOwners[v]
		if len(lists[v]) == 0 {
			t.Errorf("scripts/lib.sh has no default for %s", v)
		}
		for i, p := range lists[v] {
			name := o.prefix
			if strings.HasSuffix(name, "-") {
				name += strconv.Itoa(i + 1)
			}
			if o.flag != "" {
				cmd := c.Services[name].Command
				if j := slices.Index(cmd, o.flag); j < 0 || j+1 >= len(cmd) || cmd[j+1] != strconv.Itoa(p) {
					t.Errorf("%s: command %q does not pass %s %d (%s)", name, cmd, o.flag, p, v)
				}
				continue
			}
			want[name] = append(want[name], fmt.Sprintf("127.0.0.1:%d:%d", p, p))
			if o.listen == "" {
				continue
			}
			if got := c.Services[name].Environment[o.listen]; got != fmt.Sprintf("0.0.0.0:%d", p) {
				t.Errorf("%s: %s = %q, want 0.0.0.0:%d (%s)", name, o.listen, got, p, v)
			}
		}
	}
	for v := range lists {
		if _, ok := clusterPortOwners[v]; !ok {
			t.Errorf("scripts/lib.sh has %s, which this test does not know", v)
		}
	}
	for _, name := range sortedKeys(clusterServices) {
		got, w := slices.Clone(c.Services[name].Ports), slices.Clone(want[name])
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s publishes %v, want %v (scripts/lib.sh's TEXTKIT_CLUSTER_*_PORTS)", name, got, w)
		}
	}
	for _, i := range []int{1, 2, 3, 4, 5, 6} {
		name := fmt.Sprintf("redis-%d", i)
		cmd := c.Services[name].Command
		if j := slices.Index(cmd, "--port"); j < 0 || j+1 >= len(cmd) || "127.0.0.1:"+cmd[j+1]+":"+cmd[j+1] != strings.Join(want[name], "") {
			t.Errorf("%s: command %q does not pass --port of %v", name, cmd, want[name])
		}
	}
	scaling, err := os.ReadFile(filepath.Join(root, "docs/scaling.md"))
	if err != nil {
		t.Fatal(err)
	}
	for v := range lists {
		if !strings.Contains(string(scaling), v) {
			t.Errorf("docs/scaling.md does not mention %s", v)
		}
	}
}

// checkClusterSeedLists: each of our services is given every node of
// NATS, Redis and Vault, by service name and port.
func checkClusterSeedLists(t *testing.T, c composeFile) {
	t.Helper()
	lists := clusterPortLists(t)
	seeds := func(format, listVar string) string {
		var s []string
		for i, p := range lists[listVar] {
			s = append(s, fmt.Sprintf(format, i+1, p))
		}
		return strings.Join(s, ",")
	}
	want := map[string]string{
		"TEXTKIT_NATS_URL":   seeds("nats://nats-%d:%d", "TEXTKIT_CLUSTER_NATS_PORTS"),
		"TEXTKIT_REDIS_ADDR": seeds("redis-%d:%d", "TEXTKIT_CLUSTER_REDIS_PORTS"),
		"TEXTKIT_VAULT_ADDR": seeds("http://vault-%d:%d", "TEXTKIT_CLUSTER_VAULT_PORTS"),
	}
	for _, name := range sortedKeys(clusterServices) {
		switch clusterServices[name] {
		case "provisioner", "retention", "gateway":
			for _, v := range sortedKeys(want) {
				if got := c.Services[name].Environment[v]; got != want[v] {
					t.Errorf("%s: %s = %q, want every node: %q", name, v, got, want[v])
				}
			}
		}
	}
	if got := c.Services["cluster-vault-init"].Environment["TEXTKIT_VAULT_ADDR"]; got != want["TEXTKIT_VAULT_ADDR"] {
		t.Errorf("cluster-vault-init: TEXTKIT_VAULT_ADDR = %q, want %q", got, want["TEXTKIT_VAULT_ADDR"])
	}
	if got := c.Services["cluster-seed"].Environment["TEXTKIT_REDIS_ADDR"]; got != want["TEXTKIT_REDIS_ADDR"] {
		t.Errorf("cluster-seed: TEXTKIT_REDIS_ADDR = %q, want %q", got, want["TEXTKIT_REDIS_ADDR"])
	}
	for _, name := range []string{"provisioner-1", "provisioner-2", "provisioner-3"} {
		if got := c.Services[name].Environment["TEXTKIT_NATS_REPLICAS"]; got != "3" {
			t.Errorf("%s: TEXTKIT_NATS_REPLICAS = %q, want 3 (streams and consumers at R3)", name, got)
		}
	}
	for i := 1; i <= 3; i++ {
		if got := c.Services[fmt.Sprintf("vault-%d", i)].Environment["TEXTKIT_VAULT_NODES"]; got != want["TEXTKIT_VAULT_ADDR"] {
			t.Errorf("vault-%d: TEXTKIT_VAULT_NODES = %q, want %q", i, got, want["TEXTKIT_VAULT_ADDR"])
		}
	}
}

// checkClusterOurSettings: our services of the profile set only documented
// settings of their binary, every loopback default, their own NATS user and
// Vault token, and wait for the cluster to be up.
func checkClusterOurSettings(t *testing.T, c composeFile) {
	t.Helper()
	vars := configTable(t)
	for _, name := range sortedKeys(clusterServices) {
		bin := clusterServices[name]
		if !slices.Contains([]string{"textkit", "twilio-emulator", "provisioner", "retention", "gateway"}, bin) {
			continue
		}
		s := c.Services[name]
		set := envOf(s)
		for _, v := range sortedKeys(set) {
			if cv, ok := vars[v]; !ok || !cv.usedBy(bin) {
				t.Errorf("%s sets %s, which the README's configuration table does not list for %s", name, v, bin)
			}
		}
		if bin == "textkit" {
			continue
		}
		for _, v := range sortedKeys(vars) {
			if cv := vars[v]; cv.usedBy(bin) && strings.Contains(cv.Default, "127.0.0.1") && !set[v] {
				t.Errorf("%s does not set %s (default %s is loopback, wrong in a container)", name, v, cv.Default)
			}
		}
		if bin == "twilio-emulator" {
			continue
		}
		if got := s.Environment["TEXTKIT_NATS_USER"]; got != bin {
			t.Errorf("%s: TEXTKIT_NATS_USER = %q, want %q", name, got, bin)
		}
		if m := tokenFromRe.FindStringSubmatch(strings.Join(s.Command, " ")); m == nil || m[1] != "TEXTKIT_VAULT_TOKEN_"+strings.ToUpper(bin) {
			t.Errorf("%s: command %q must set TEXTKIT_VAULT_TOKEN from TEXTKIT_VAULT_TOKEN_%s", name, s.Command, strings.ToUpper(bin))
		}
		for _, dep := range []string{"nats-1", "nats-2", "nats-3", "vault-1", "vault-2", "vault-3"} {
			if s.DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("%s must wait for %s to be healthy", name, dep)
			}
		}
		if name != "provisioner-1" && s.DependsOn["provisioner-1"].Condition != "service_healthy" {
			t.Errorf("%s must wait for provisioner-1, which creates the streams at three replicas", name)
		}
		for _, dep := range []string{"redis-cluster-create", "cluster-vault-init"} {
			if s.DependsOn[dep].Condition != "service_completed_successfully" {
				t.Errorf("%s must wait for %s to complete", name, dep)
			}
		}
	}
}

// checkClusterNodeConfigs: the NATS and Vault nodes set exactly the
// variables their config templates read, and scripts/cluster.sh sets them
// too; the Vault nodes keep storage on their own volumes and share the
// unseal key's.
func checkClusterNodeConfigs(t *testing.T, c composeFile) {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	script := read("scripts/cluster.sh")
	natsVars := map[string]bool{}
	for _, f := range []string{"deploy/nats/nats.conf", "deploy/nats/cluster.conf"} {
		for _, m := range confVarRe.FindAllStringSubmatch(read(f), -1) {
			natsVars[m[1]] = true
		}
	}
	vaultVars := map[string]bool{"TEXTKIT_VAULT_ROOT_TOKEN": true, "TEXTKIT_VAULT_NODES": true}
	for _, m := range regexp.MustCompile(`\$\{(TEXTKIT_[A-Z0-9_]+)\}`).FindAllStringSubmatch(read("deploy/vault/cluster.hcl"), -1) {
		vaultVars[m[1]] = true
	}
	for _, n := range []struct {
		prefix string
		want   map[string]bool
	}{{"nats-", natsVars}, {"vault-", vaultVars}} {
		for i := 1; i <= 3; i++ {
			name := n.prefix + strconv.Itoa(i)
			got := envOf(c.Services[name])
			for _, v := range sortedKeys(n.want) {
				if !got[v] {
					t.Errorf("%s does not set %s, which its config reads", name, v)
				}
				if v != "TEXTKIT_VAULT_NODES" && v != "TEXTKIT_VAULT_ROOT_TOKEN" && !strings.Contains(script, v+"=") {
					t.Errorf("scripts/cluster.sh does not set %s", v)
				}
			}
			for _, v := range sortedKeys(got) {
				if !n.want[v] {
					t.Errorf("%s sets %s, which its config does not read", name, v)
				}
			}
		}
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("vault-%d", i)
		v := c.Services[name]
		if !slices.Contains(v.Volumes, fmt.Sprintf("vault-%d-data:/vault/file", i)) || !slices.Contains(v.Volumes, "vault-cluster-keys:/vault/keys") {
			t.Errorf("%s volumes %v: want its own vault-%d-data at /vault/file and the shared vault-cluster-keys at /vault/keys", name, v.Volumes, i)
		}
		if !strings.Contains(strings.Join(v.Command, " "), "vault.sh run /etc/textkit/vault/cluster.hcl") {
			t.Errorf("%s: command %q, want vault.sh run with cluster.hcl", name, v.Command)
		}
	}
}
