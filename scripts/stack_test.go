package scripts_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/textkit/customers/internal/testenv"
)

// ourBinaries are the cmd/<name> main packages scripts/up.sh builds.
var ourBinaries = []string{"textkit", "twilio-emulator", "provisioner", "retention", "gateway"}

// portVars are the TEXTKIT_*_PORT variables of scripts/lib.sh.
var portVars = []string{
	"TEXTKIT_NATS_PORT", "TEXTKIT_NATS_MONITOR_PORT", "TEXTKIT_REDIS_PORT", "TEXTKIT_VAULT_PORT",
	"TEXTKIT_VAULT_CLUSTER_PORT", "TEXTKIT_TWILIO_EMULATOR_PORT", "TEXTKIT_GATEWAY_PORT", "TEXTKIT_GATEWAY_OPS_PORT", "TEXTKIT_PROVISIONER_PORT", "TEXTKIT_RETENTION_PORT",
}

// secondStartTarget is what a second scripts/up.sh (everything built and
// cached, dependencies running) should stay under. It is reported, not
// asserted: a timed assertion fails on a loaded machine, and what makes the
// second start fast (the dependencies kept, not restarted) is checked below.
const secondStartTarget = 30 * time.Second

// TestUpThenDown runs the README's first command the way a developer does,
// on free ports in a temporary data directory: scripts/up.sh must start the
// stack and print a curl that gets an answer from the GraphQL endpoint; a
// second up.sh must keep NATS, Redis and Vault (and their data) and restart
// our services; scripts/down.sh must stop everything and keep the data
// (Vault's storage included), and down.sh --purge must delete it.
func TestUpThenDown(t *testing.T) {
	st := newStack(t)
	root, dir, env, ports, skipMissing := st.root, st.dir, st.env, st.ports, st.skipMissing
	port := func(v string) int { return st.port(t, v) }

	// ---- first start --------------------------------------------------------
	start := time.Now()
	out, err := runScript(t, root, "up.sh", env)
	if err != nil {
		t.Fatalf("up.sh: %v\n%s", err, out)
	}
	t.Logf("first up.sh took %v", time.Since(start).Round(100*time.Millisecond))

	deps := map[string]int{}
	for _, name := range []string{"nats", "redis", "vault"} {
		deps[name] = alivePid(t, dir, name)
	}
	graphQL := fmt.Sprintf("http://127.0.0.1:%d/graphql", port("TEXTKIT_GATEWAY_PORT"))
	if got := field(out, "GraphQL:"); got != graphQL {
		t.Errorf("up.sh printed GraphQL URL %q, want %q", got, graphQL)
	}
	secrets := readEnvFile(t, filepath.Join(dir, "secrets.env"))
	apiKey := ""
	if raw, err := os.ReadFile(filepath.Join(dir, "api-key")); err == nil {
		apiKey = strings.TrimSpace(string(raw))
	}
	if got := strings.Fields(field(out, "API key:")); len(got) == 0 || got[0] != apiKey {
		t.Errorf("up.sh printed API key %q, want the one in api-key (%q)", got, apiKey)
	}
	if st, err := os.Stat(filepath.Join(dir, "secrets.env")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secrets.env: %v, mode %v; want mode 0600", err, st.Mode().Perm())
	}
	if !skipMissing {
		checkCurl(t, out)
		checkDocsExamples(t, apiKey, graphQL)
		checkOperating(t, dir, port("TEXTKIT_REDIS_PORT"), port("TEXTKIT_NATS_PORT"))
		checkSecondPartner(t, dir, graphQL, secrets, port("TEXTKIT_NATS_PORT"))
	}
	checkNATSHealthy(t, port("TEXTKIT_NATS_MONITOR_PORT"))

	// Something to survive the second start.
	rdb := &testenv.Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port("TEXTKIT_REDIS_PORT")), Password: secrets["TEXTKIT_REDIS_PASSWORD"]}
	if got, err := rdb.Do("SET", "stack-test:marker", "kept"); err != nil || got != "OK" {
		t.Fatalf("SET in the stack's redis = %v, %v", got, err)
	}
	streamsBefore := jetStreamMessages(t, port("TEXTKIT_NATS_MONITOR_PORT"))

	ours := map[string]int{}
	for _, name := range []string{"twilio-emulator", "provisioner", "retention", "gateway"} {
		if pid, ok := readPid(dir, name); ok {
			ours[name] = pid
		}
	}

	// ---- second start: deps kept, our services restarted ----------------------
	start = time.Now()
	out, err = runScript(t, root, "up.sh", env)
	if err != nil {
		t.Fatalf("second up.sh: %v\n%s", err, out)
	}
	took := time.Since(start)
	t.Logf("second up.sh took %v (target %v)", took.Round(100*time.Millisecond), secondStartTarget)
	for name, pid := range deps {
		if got := alivePid(t, dir, name); got != pid {
			t.Errorf("%s was restarted by the second up.sh (pid %d → %d); it should be kept", name, pid, got)
		}
	}
	for name, pid := range ours {
		if got := alivePid(t, dir, name); got == pid {
			t.Errorf("%s was not restarted by the second up.sh (pid %d)", name, pid)
		}
	}
	if got, err := rdb.Do("GET", "stack-test:marker"); err != nil || got != "kept" {
		t.Errorf("redis key after second up.sh = %v, %v; want kept", got, err)
	}
	if after := jetStreamMessages(t, port("TEXTKIT_NATS_MONITOR_PORT")); after < streamsBefore {
		t.Errorf("JetStream messages went from %d to %d across the second up.sh", streamsBefore, after)
	}
	if !skipMissing {
		checkCurl(t, out)
	}

	// ---- down ------------------------------------------------------------------
	pids := map[string]int{}
	for name, pid := range deps {
		pids[name] = pid
	}
	for name := range ours {
		pids[name], _ = readPid(dir, name)
	}
	if out, err := runScript(t, root, "down.sh", env); err != nil {
		t.Fatalf("down.sh: %v\n%s", err, out)
	}
	for name, pid := range pids {
		if processAlive(pid) {
			t.Errorf("%s (pid %d) still runs after down.sh", name, pid)
		}
		if _, err := os.Stat(filepath.Join(dir, "pids", name+".pid")); !os.IsNotExist(err) {
			t.Errorf("pid file of %s left behind: %v", name, err)
		}
	}
	for i, v := range portVars {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[i]), time.Second); err == nil {
			_ = c.Close()
			t.Errorf("port %d (%s) still answers after down.sh", ports[i], v)
		}
	}
	for _, kept := range []string{"redis/appendonlydir", "vault/raft/vault.db", "secrets.env"} {
		if _, err := os.Stat(filepath.Join(dir, kept)); err != nil {
			t.Errorf("down.sh without --purge must keep the data: %v", err)
		}
	}
	if out, err := runScript(t, root, "down.sh", env, "--purge"); err != nil {
		t.Fatalf("down.sh --purge: %v\n%s", err, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("down.sh --purge left the data directory (Vault storage and unseal key included): %v", err)
	}
}

// stack is a local stack for one test: a temporary data directory, free
// ports and the environment scripts/up.sh and down.sh run with.
type stack struct {
	root, dir string
	env       []string
	ports     []int // in portVars order
	// skipMissing: some cmd/<name> has no main package yet (outside CI
	// only), so up.sh skips it and the GraphQL checks cannot run.
	skipMissing bool
}

// newStack prepares a stack on free ports in a temporary data directory;
// t's cleanup runs scripts/down.sh (and dumps the logs if t failed).
func newStack(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	st := &stack{root: repoRoot(t), dir: t.TempDir()}
	st.env = []string{
		"TEXTKIT_DATA_DIR=" + st.dir,
		"TEXTKIT_SKIP_DEPS=1", // test.sh ran deps.sh; the binaries come from testsvc
		"TEXTKIT_NATS_SERVER_BIN=" + testenv.Binary(t, "nats-server"),
		"TEXTKIT_REDIS_SERVER_BIN=" + testenv.Binary(t, "redis-server"),
		"TEXTKIT_VAULT_BIN=" + testenv.Binary(t, "vault"),
		"TEXTKIT_WAIT_SECONDS=90",
		"TEXTKIT_VAULT_DEV=0", // the default, whatever the caller's environment says
	}
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Missing(t, "curl", "scripts/deps.sh installs it (apt-get install curl)")
	}
	st.ports = freePorts(t, len(portVars))
	for i, v := range portVars {
		st.env = append(st.env, fmt.Sprintf("%s=%d", v, st.ports[i]))
	}

	// Until every binary exists, a developer can still check the rest;
	// CI must run the real thing.
	var missing []string
	for _, b := range ourBinaries {
		if !hasMainPackage(filepath.Join(st.root, "cmd", b)) {
			missing = append(missing, b)
		}
	}
	st.skipMissing = len(missing) > 0 && !testenv.CI()
	if len(missing) > 0 {
		if testenv.CI() {
			t.Fatalf("cmd/{%s} have no main package: the stack cannot start", strings.Join(missing, ","))
		}
		t.Logf("developing: cmd/{%s} have no main package yet; up.sh skips them (TEXTKIT_SKIP_MISSING_BINARIES=1) and the GraphQL check is skipped",
			strings.Join(missing, ","))
		st.env = append(st.env, "TEXTKIT_SKIP_MISSING_BINARIES=1")
	} else {
		st.env = append(st.env, "TEXTKIT_SKIP_MISSING_BINARIES=0")
	}

	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, filepath.Join(st.dir, "logs"))
		}
		// Stop whatever is left even if the test failed half-way.
		if out, err := runScript(t, st.root, "down.sh", st.env); err != nil {
			t.Errorf("cleanup: down.sh: %v\n%s", err, out)
		}
	})
	return st
}

// port is the port the stack gives the TEXTKIT_*_PORT variable v.
func (st *stack) port(t *testing.T, v string) int {
	t.Helper()
	for i, pv := range portVars {
		if pv == v {
			return st.ports[i]
		}
	}
	t.Fatalf("no port variable %s", v)
	return 0
}

// run runs scripts/NAME (up.sh, down.sh) on the stack and fails t if it fails.
func (st *stack) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := runScript(t, st.root, name, st.env, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	t.Logf("%s took %v", name, time.Since(start).Round(100*time.Millisecond))
	return out
}

// checkCurl runs the curl command up.sh printed, as a user would paste it.
func checkCurl(t *testing.T, out string) {
	t.Helper()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "curl ") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("up.sh printed no curl command:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := exec.CommandContext(ctx, "bash", "-c", line+" --fail-with-body").CombinedOutput()
	if err != nil {
		t.Fatalf("the printed curl failed: %v\n%s\n%s", err, line, got)
	}
	var resp struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if err := json.Unmarshal(got, &resp); err != nil {
		t.Fatalf("the printed curl answered non-JSON: %v\n%s", err, got)
	}
	viewer, _ := resp.Data["viewer"].(map[string]any)
	if len(resp.Errors) > 0 || viewer["role"] != "PARTNER" || !strings.Contains(string(got), `"space":"docs-example"`) {
		t.Errorf("the printed curl answered %s, want the viewer and the docs' example customer", got)
	}
}

// checkDocsExamples sends the customer-facing docs' four valid examples,
// verbatim, to the stack up.sh started, as a partner pasting them would.
// With several GraphQL URLs (gateway replicas), example i goes to
// urls[i % len(urls)].
func checkDocsExamples(t *testing.T, key string, urls ...string) {
	t.Helper()
	examples := testenv.DocsExamples(t)
	wants := []string{`"userErrors":[]`, `"activateCustomer":true,"updateCustomerContactInfo":true`, `"updateCustomerContactInfo":true`, `"deactivateCustomer":true`, `GRAPHQL_PARSE_FAILED`}
	for i, ex := range examples {
		url := urls[i%len(urls)]
		body, _ := json.Marshal(map[string]string{"query": ex})
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("example %d: %v", i+1, err)
		}
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if !strings.Contains(string(got), wants[i]) {
			t.Errorf("docs example %d answered %s, want %s", i+1, got, wants[i])
		}
	}
}

func checkNATSHealthy(t *testing.T, monitorPort int) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", monitorPort))
	if err != nil {
		t.Fatalf("nats /healthz: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("nats /healthz = %s", resp.Status)
	}
}

// jetStreamMessages is the number of messages JetStream stores.
func jetStreamMessages(t *testing.T, monitorPort int) int64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", monitorPort))
	if err != nil {
		t.Fatalf("nats /jsz: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var jsz struct {
		Messages int64 `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		t.Fatalf("nats /jsz: %v", err)
	}
	return jsz.Messages
}

func runScript(t *testing.T, root, script string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "scripts", script)}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// field returns what follows label on the line of out that starts with it.
func field(out, label string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(l, label); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	return m
}

func readPid(dir, name string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "pids", name+".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil
}

func alivePid(t *testing.T, dir, name string) int {
	t.Helper()
	pid, ok := readPid(dir, name)
	if !ok {
		t.Fatalf("no pid file for %s", name)
	}
	if !processAlive(pid) {
		t.Fatalf("%s (pid %d) is not running", name, pid)
	}
	return pid
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A zombie (exited, not yet reaped) counts as gone.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return runtime.GOOS != "linux"
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		p := testenv.FreePort(t)
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

var packageMain = regexp.MustCompile(`(?m)^package main\b`)

func hasMainPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && packageMain.Match(b) {
			return true
		}
	}
	return false
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd) // the test runs in scripts/
}

func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		if len(s) > 4000 {
			s = "…" + s[len(s)-4000:]
		}
		t.Logf("---- %s ----\n%s", filepath.Base(f), s)
	}
}

// checkOperating runs README "Operating" commands as written against the
// stack up.sh started, with nothing but its data directory and addresses:
// the docs' customer by its space, and the (empty) dead letters.
func checkOperating(t *testing.T, dir string, redisPort, natsPort int) {
	t.Helper()
	env := append(os.Environ(), "TEXTKIT_DATA_DIR="+dir,
		fmt.Sprintf("TEXTKIT_REDIS_ADDR=127.0.0.1:%d", redisPort), fmt.Sprintf("TEXTKIT_NATS_URL=nats://127.0.0.1:%d", natsPort))
	for _, args := range [][]string{{"customer", "show", "docs-example", "-json"}, {"dlq", "list", "-json"}, {"keys", "due", "-json"}} {
		cmd := exec.Command(filepath.Join(dir, "bin", "textkit"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || !json.Valid(out) {
			t.Errorf("textkit %v on the dev stack: %v\n%s", args, err, out)
		}
	}
}

// secondPartnerID is deploy/seed.json's second partner.
const secondPartnerID = "7d3c9a52-5c1e-4d4f-9a38-2f3a1b0c9d11"

// checkSecondPartner: up.sh sets the seed's second partner up as the
// first: its own API key (api-key-2), acting as that partner, and its own
// NATS user, partner-7d3c9a52, with the password secrets.sh made, allowed
// its own outcomes.
func checkSecondPartner(t *testing.T, dir, graphQL string, secrets map[string]string, natsPort int) {
	t.Helper()
	gql := &graphQLClient{url: graphQL, key: strings.TrimSpace(readFile(t, filepath.Join(dir, "api-key-2")))}
	if got := gql.do(t, `{ viewer { role partnerId } }`); !strings.Contains(got, `"partnerId":"`+secondPartnerID+`"`) {
		t.Errorf("api-key-2 acts as %s, want partner %s", got, secondPartnerID)
	}
	const user = "partner-7d3c9a52"
	violations := make(chan error, 1)
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort), nats.UserInfo(user, secrets["TEXTKIT_NATS_PARTNER2_PASSWORD"]),
		nats.CustomInboxPrefix("_INBOX_"+user), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case violations <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s with TEXTKIT_NATS_PARTNER2_PASSWORD: %v", user, err)
	}
	defer nc.Close()
	if _, err := nc.SubscribeSync("customers.outcome." + secondPartnerID + ".>"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		t.Errorf("%s may not read its own outcomes: %v", user, err)
	case <-time.After(500 * time.Millisecond):
	}
}
