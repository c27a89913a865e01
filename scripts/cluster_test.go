package scripts_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/testenv"
)

// clusterPortLists are the TEXTKIT_CLUSTER_*_PORTS lists of scripts/lib.sh
// with the number of ports each needs.
var clusterPortLists = []struct {
	name string
	n    int
}{
	{"TEXTKIT_CLUSTER_NATS_PORTS", 3}, {"TEXTKIT_CLUSTER_NATS_MONITOR_PORTS", 3}, {"TEXTKIT_CLUSTER_NATS_ROUTE_PORTS", 3},
	{"TEXTKIT_CLUSTER_REDIS_PORTS", 6}, {"TEXTKIT_CLUSTER_REDIS_BUS_PORTS", 6}, {"TEXTKIT_CLUSTER_VAULT_PORTS", 3}, {"TEXTKIT_CLUSTER_VAULT_CLUSTER_PORTS", 3},
	{"TEXTKIT_CLUSTER_TWILIO_EMULATOR_PORTS", 1}, {"TEXTKIT_CLUSTER_GATEWAY_PORTS", 2}, {"TEXTKIT_CLUSTER_GATEWAY_OPS_PORTS", 2},
	{"TEXTKIT_CLUSTER_PROVISIONER_PORTS", 3}, {"TEXTKIT_CLUSTER_RETENTION_PORTS", 2},
}

// clusterPorts picks free loopback ports for every list (the Redis cluster
// bus ports too: they are set, not Redis's implicit port + 10000), from
// 27000-31999: below Linux's ephemeral range (32768-60999), where an
// outgoing connection could take a port between the probe and the bind,
// and apart from the chaos stacks' 20000-26999 (internal/chaos FreePorts).
func clusterPorts(t *testing.T) map[string][]int {
	t.Helper()
	free := func(p int) bool {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		_ = l.Close()
		return true
	}
	seen := map[int]bool{}
	out := map[string][]int{}
	for _, l := range clusterPortLists {
		for len(out[l.name]) < l.n {
			p := 27000 + rand.IntN(5000)
			if seen[p] || !free(p) {
				continue
			}
			seen[p] = true
			out[l.name] = append(out[l.name], p)
		}
	}
	return out
}

// TestClusterUpDownUp runs `scripts/up.sh --cluster` (3 NATS nodes, a
// 6-node Redis Cluster, 3 Vault nodes, 2 gateways, 3 provisioners, 2
// retention workers) on free ports, sends the docs' examples alternately
// through both gateways, terminates the docs' customer through one and
// reads it from the other, then `scripts/down.sh --cluster` and `up.sh
// --cluster` again: the customers and their encrypted contact info are
// still there.
func TestClusterUpDownUp(t *testing.T) {
	st := newStack(t)
	if st.skipMissing {
		t.Skip("needs every binary of cmd/ (see the log above)")
	}
	ports := clusterPorts(t)
	for _, l := range clusterPortLists {
		var s []string
		for _, p := range ports[l.name] {
			s = append(s, fmt.Sprint(p))
		}
		st.env = append(st.env, l.name+"="+strings.Join(s, ","))
	}
	dir := filepath.Join(st.dir, "cluster")
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, filepath.Join(dir, "logs"))
		}
		if out, err := runScript(t, st.root, "down.sh", st.env, "--cluster"); err != nil {
			t.Errorf("cleanup: down.sh --cluster: %v\n%s", err, out)
		}
	})

	out := st.run(t, "up.sh", "--cluster")
	key := strings.TrimSpace(readFile(t, filepath.Join(dir, "api-key")))
	var gws []*graphQLClient
	for _, p := range ports["TEXTKIT_CLUSTER_GATEWAY_PORTS"] {
		url := fmt.Sprintf("http://127.0.0.1:%d/graphql", p)
		if !strings.Contains(out, url) {
			t.Errorf("up.sh --cluster did not print the gateway URL %s:\n%s", url, out)
		}
		gws = append(gws, &graphQLClient{url: url, key: key})
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3", "redis-1", "redis-6", "vault-1", "vault-3",
		"provisioner-1", "provisioner-2", "provisioner-3", "retention-1", "retention-2", "gateway-1", "gateway-2"} {
		alivePid(t, dir, name)
	}

	// The docs' lifecycle, example by example, alternating gateways.
	checkDocsExamples(t, key, gws[0].url, gws[1].url)
	const docsCustomer = "e4c81004-1a4c-477f-97e3-b67022e9a351"
	term := gws[1].do(t, fmt.Sprintf(`mutation { terminateCustomer(input: {id: %q, retention: {strategy: INDEFINITE}}) { response } }`, docsCustomer))
	if !strings.Contains(term, `"response":true`) {
		t.Fatalf("terminateCustomer through gateway 2 answered %s", term)
	}
	waitStatus(t, gws[0], docsCustomer, "TERMINATED")

	// A customer with contact info, encrypted with its key in the Vault cluster.
	id := uuid.NewString()
	const business = "Clustered Widgets Ltd."
	reg := gws[0].do(t, fmt.Sprintf(`mutation { registerCustomer(input: {id: %q, space: %q, partnerId: %q, industryId: %q, label: "Cluster"}) { response userErrors { field message } } }`,
		id, "cl-"+id[:8], docsPartnerID, docsIndustryID))
	if !strings.Contains(reg, `"response":true`) {
		t.Fatalf("registerCustomer answered %s", reg)
	}
	upd := gws[1].do(t, fmt.Sprintf(`mutation { activateCustomer(input: {id: %q}) updateCustomerContactInfo(input: {id: %q, businessName: %q, phoneNumber: "+14165551212", addressLine1: "1 Yonge St", postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`,
		id, id, business))
	if !strings.Contains(upd, `"updateCustomerContactInfo":true`) {
		t.Fatalf("activate and update answered %s", upd)
	}
	for _, g := range gws {
		checkContactInfo(t, g, id, business, "through each gateway")
	}

	// The Vault leader dies (SIGKILL): a standby takes over, and the
	// services, given every node, go on encrypting and decrypting.
	killVaultLeader(t, dir, ports["TEXTKIT_CLUSTER_VAULT_PORTS"])
	const business2 = "Clustered Widgets After Failover Ltd."
	testenv.Eventually(t, 90*time.Second, func() error {
		got, err := gws[0].try(fmt.Sprintf(`mutation { updateCustomerContactInfo(input: {id: %q, businessName: %q, phoneNumber: "+14165551212", addressLine1: "1 Yonge St", postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`, id, business2))
		if err != nil || !strings.Contains(got, `"updateCustomerContactInfo":true`) {
			return fmt.Errorf("update after the Vault leader died: %s %v", got, err)
		}
		return nil
	})
	for _, g := range gws {
		checkContactInfo(t, g, id, business2, "after the Vault leader died")
	}

	st.run(t, "down.sh", "--cluster")
	for _, name := range []string{"gateway-1", "vault-1", "redis-1", "nats-1"} {
		if pid, ok := readPid(dir, name); ok && processAlive(pid) {
			t.Errorf("%s (pid %d) still runs after down.sh --cluster", name, pid)
		}
	}
	st.run(t, "up.sh", "--cluster")
	waitStatus(t, gws[1], docsCustomer, "TERMINATED")
	for _, g := range gws {
		checkContactInfo(t, g, id, business2, "after down.sh --cluster and up.sh --cluster")
	}
	checkSharedRateLimit(t, gws)
}

// killVaultLeader kills the active node of the stack's Vault cluster with
// SIGKILL (sys/health answers 200 on the active node, 429 on standbys).
func killVaultLeader(t *testing.T, dir string, ports []int) {
	t.Helper()
	for i, p := range ports {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/sys/health", p))
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			pid := alivePid(t, dir, fmt.Sprintf("vault-%d", i+1))
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill vault-%d: %v", i+1, err)
			}
			waitClosed(t, p)
			t.Logf("killed the Vault leader vault-%d (pid %d)", i+1, pid)
			return
		}
	}
	t.Fatal("no Vault node answered sys/health as the active node")
}

// checkSharedRateLimit: the partner's rate limit is one bucket for both
// gateways. Requests alternate between them, in concurrent rounds, until
// each gateway has refused one (429); by then no more requests may have
// passed than one bucket allows in that time (the README's default
// TEXTKIT_RATE_LIMIT and TEXTKIT_RATE_BURST), where a bucket per gateway
// would have let twice the burst through.
func checkSharedRateLimit(t *testing.T, gws []*graphQLClient) {
	t.Helper()
	const rate, burst, round, maxRequests = 20.0, 40, 20, 1000
	var ok, sent int
	refused := map[string]int{}
	start := time.Now()
	client := &http.Client{Timeout: 30 * time.Second}
	for sent < maxRequests && (refused[gws[0].url] == 0 || refused[gws[1].url] == 0) {
		codes := make([]int, round)
		var wg sync.WaitGroup
		for i := 0; i < round; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := gws[i%len(gws)]
				req, _ := http.NewRequest(http.MethodPost, g.url, strings.NewReader(`{"query":"{ viewer { role } }"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+g.key)
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				_ = resp.Body.Close()
				codes[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		for i, c := range codes {
			switch c {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				refused[gws[i%len(gws)].url]++
			default:
				t.Fatalf("a request through %s answered status %d", gws[i%len(gws)].url, c)
			}
		}
		sent += round
	}
	elapsed := time.Since(start)
	if refused[gws[0].url] == 0 || refused[gws[1].url] == 0 {
		t.Fatalf("after %d requests in %v, refused per gateway: %v; want each gateway to refuse some", sent, elapsed, refused)
	}
	allowed := burst + int(math.Ceil(rate*elapsed.Seconds())) + 1
	if ok > allowed {
		t.Errorf("%d of %d requests passed in %v through two gateways; one shared bucket (rate %v/s, burst %d) allows at most %d", ok, sent, elapsed, rate, burst, allowed)
	}
	t.Logf("rate limit: %d passed, refused %v, in %v (one bucket allows %d)", ok, refused, elapsed.Round(time.Millisecond), allowed)
}

// waitStatus waits (bounded) until gql reads customer id with status.
func waitStatus(t *testing.T, gql *graphQLClient, id, status string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		got := gql.do(t, fmt.Sprintf(`{ customer(id: %q) { status } }`, id))
		var resp struct {
			Data struct {
				Customer *struct {
					Status string `json:"status"`
				} `json:"customer"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(got), &resp); err != nil {
			return err
		}
		if resp.Data.Customer == nil || resp.Data.Customer.Status != status {
			return fmt.Errorf("customer %s through %s: %s, want status %s", id, gql.url, got, status)
		}
		return nil
	})
}

// try posts query like do, but returns what went wrong instead of failing
// t, for use inside testenv.Eventually.
func (c *graphQLClient) try(query string) (string, error) {
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	got, err := io.ReadAll(resp.Body)
	return string(got), err
}
