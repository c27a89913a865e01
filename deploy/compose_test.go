package deploy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/textkit/customers/internal/testenv"
)

// The test runs in deploy/; everything it reads is relative to the repo.
const root = ".."

// ourServices maps each compose service built from our Dockerfile to the
// binary (cmd/<name>) it runs.
var ourServices = map[string]string{
	"vault-init":      "textkit",
	"seed":            "textkit",
	"twilio-emulator": "twilio-emulator",
	"provisioner":     "provisioner",
	"retention":       "retention",
	"gateway":         "gateway",
}

// longRunning are our services that run until stopped (the rest are one-shots).
var longRunning = []string{"twilio-emulator", "provisioner", "retention", "gateway"}

// profileServices are our services that run only with a profile (not in
// `docker compose up`), by the binary they run.
var profileServices = map[string]string{"chaos": "chaos"}

// dependencies are the upstream images.
var dependencies = []string{"nats", "redis", "vault"}

// observability are the upstream images of the `observability` profile
// (deploy/observability_test.go), with the port each publishes.
var observability = map[string]int{"prometheus": 9090, "grafana": 3000}

// flagBinaries are the binaries whose flags (from -h) must match the table
// exactly; textkit is a CLI with subcommands and is checked through compose.
var flagBinaries = []string{"gateway", "provisioner", "retention", "twilio-emulator"}

// ---- the README's tables -------------------------------------------------------

type configVar struct {
	Name    string
	UsedBy  []string
	Default string
}

func (v configVar) usedBy(binary string) bool { return slices.Contains(v.UsedBy, binary) }

// readmeTable returns the rows (header and separator dropped) of the first
// table after the heading line, with backticks removed from the cells.
func readmeTable(t *testing.T, heading string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var rows [][]string
	inSection, inTable := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == heading:
			inSection = true
		case !inSection:
		case strings.HasPrefix(line, "|"):
			inTable = true
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(strings.ReplaceAll(cells[i], "`", ""))
			}
			rows = append(rows, cells)
		case inTable:
			inSection = false
		case strings.HasPrefix(line, "#"):
			t.Fatalf("README.md: no table under %q", heading)
		}
	}
	if len(rows) < 3 {
		t.Fatalf("README.md: no table with rows under %q", heading)
	}
	return rows[2:]
}

// configTable is the README's "Environment variables" table: the one list of
// the binaries' settings.
func configTable(t *testing.T) map[string]configVar {
	t.Helper()
	vars := map[string]configVar{}
	for _, r := range readmeTable(t, "### Environment variables") {
		if len(r) < 3 || !strings.HasPrefix(r[0], "TEXTKIT_") {
			t.Fatalf("README.md: malformed configuration row %q", r)
		}
		v := configVar{Name: r[0], Default: r[2]}
		for _, b := range strings.Split(r[1], ",") {
			v.UsedBy = append(v.UsedBy, strings.TrimSpace(b))
		}
		if _, dup := vars[v.Name]; dup {
			t.Errorf("README.md: %s is listed twice", v.Name)
		}
		vars[v.Name] = v
	}
	return vars
}

type portRow struct {
	Service string
	Port    int
	Var     string
}

// portTable is the README's "Ports" table.
func portTable(t *testing.T) []portRow {
	t.Helper()
	var ports []portRow
	for _, r := range readmeTable(t, "### Ports") {
		if len(r) < 3 {
			t.Fatalf("README.md: malformed port row %q", r)
		}
		p, err := strconv.Atoi(r[1])
		if err != nil {
			t.Fatalf("README.md: port %q of %s: %v", r[1], r[0], err)
		}
		ports = append(ports, portRow{Service: r[0], Port: p, Var: r[2]})
	}
	return ports
}

// ---- docker-compose.yml ----------------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Profiles    []string                     `yaml:"profiles"`
	Build       *composeBuild                `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Environment map[string]string            `yaml:"environment"`
	Volumes     []string                     `yaml:"volumes"`
	Ports       []string                     `yaml:"ports"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// UnmarshalYAML accepts both `build: .` and `build: {context: ., …}`.
func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain composeBuild
	return n.Decode((*plain)(b))
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml (commands must be lists, environments maps): %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

var (
	assignRe    = regexp.MustCompile(`\b(TEXTKIT_[A-Z0-9_]+)=`)
	execRe      = regexp.MustCompile(`\bexec\s+([a-z][a-z0-9-]*)`)
	confVarRe   = regexp.MustCompile(`\$(TEXTKIT_[A-Z0-9_]+)`)
	tokenFromRe = regexp.MustCompile(`TEXTKIT_VAULT_TOKEN=\$\$?(TEXTKIT_VAULT_TOKEN_[A-Z_]+)`)
)

// binaryOf is the program a service's command runs: the first word, or
// what `sh -c '… exec NAME'` execs.
func binaryOf(s composeService) string {
	if len(s.Command) == 0 {
		return ""
	}
	if (s.Command[0] == "sh" || s.Command[0] == "bash") && len(s.Command) == 3 && s.Command[1] == "-c" {
		if m := execRe.FindStringSubmatch(s.Command[2]); m != nil {
			return m[1]
		}
		return ""
	}
	return s.Command[0]
}

// envOf is every variable a service sets: its environment plus assignments
// in a shell command.
func envOf(s composeService) map[string]bool {
	vars := map[string]bool{}
	for k := range s.Environment {
		vars[k] = true
	}
	for _, arg := range s.Command {
		for _, m := range assignRe.FindAllStringSubmatch(arg, -1) {
			vars[m[1]] = true
		}
	}
	return vars
}

// bindMounts maps a service's bind-mounted repo paths to their targets.
func bindMounts(t *testing.T, name string, s composeService) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("%s: volume %q needs source:target", name, v)
			continue
		}
		if strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") {
			m[filepath.Clean(parts[0])] = parts[1]
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- tests ------------------------------------------------------------------------

func TestComposeHasEveryService(t *testing.T) {
	c := loadCompose(t)
	for _, name := range append(slices.Clone(dependencies), sortedKeys(ourServices)...) {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no service %q", name)
		}
	}
	for name := range c.Services {
		_, profiled := profileServices[name]
		_, obs := observability[name]
		_, cl := clusterServices[name]
		if _, ours := ourServices[name]; !ours && !profiled && !obs && !cl && !slices.Contains(dependencies, name) {
			t.Errorf("docker-compose.yml service %q is unknown to this test: add it to ourServices, dependencies, observability, profileServices or clusterServices", name)
		}
	}
}

// TestComposeChaosProfile checks the chaos runner's service: only with the
// chaos profile, our image, the chaos binary against this stack
// (-external), its endpoints' hosts services of this file, its secrets
// from secrets.env, started once the services are healthy.
func TestComposeChaosProfile(t *testing.T) {
	c := loadCompose(t)
	s, ok := c.Services["chaos"]
	if !ok {
		t.Fatal("docker-compose.yml has no chaos service (docker compose --profile chaos)")
	}
	if !slices.Equal(s.Profiles, []string{"chaos"}) {
		t.Errorf("chaos has profiles %v, want [chaos]: it must not start with a plain `docker compose up`", s.Profiles)
	}
	if s.Image != c.Services["gateway"].Image || s.Build == nil {
		t.Errorf("chaos must run our image (%q), built from the Dockerfile", c.Services["gateway"].Image)
	}
	if binaryOf(s) != "chaos" || !slices.Contains(s.Command, "-external") {
		t.Errorf("chaos runs %q, want the chaos binary with -external", s.Command)
	}
	if !hasMainPackage(filepath.Join(root, "cmd", "chaos")) {
		t.Error("cmd/chaos has no main package")
	}
	for i, arg := range s.Command {
		if strings.HasSuffix(arg, "-url") || strings.HasSuffix(arg, "-addr") {
			if i+1 >= len(s.Command) {
				t.Fatalf("chaos: %s has no value", arg)
			}
			u := s.Command[i+1]
			host := strings.Split(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "nats://"), ":")[0]
			if _, ok := c.Services[host]; !ok {
				t.Errorf("chaos: %s %s names no service of this file", arg, u)
			}
		}
	}
	for k, v := range s.Environment {
		if !strings.HasPrefix(k, "TEXTKIT_") || !strings.HasPrefix(v, "${"+k+":?") {
			t.Errorf("chaos sets %s=%q: want a TEXTKIT_ secret from secrets.env (${%s:?…})", k, v, k)
		}
	}
	for _, dep := range []string{"gateway", "provisioner", "retention"} {
		if s.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("chaos must wait for %s to be healthy", dep)
		}
	}
}

func TestComposeBuildsOurImageFromTheDockerfile(t *testing.T) {
	c := loadCompose(t)
	for _, name := range sortedKeys(ourServices) {
		s := c.Services[name]
		if s.Build == nil {
			t.Errorf("%s: no build section; our services build from the repo's Dockerfile", name)
			continue
		}
		dockerfile := s.Build.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		if st, err := os.Stat(filepath.Join(root, s.Build.Context)); err != nil || !st.IsDir() {
			t.Errorf("%s: build context %q is not a directory of the repo", name, s.Build.Context)
		}
		if _, err := os.Stat(filepath.Join(root, s.Build.Context, dockerfile)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		bin := binaryOf(s)
		if bin != ourServices[name] {
			t.Errorf("%s runs %q (command %q), want %q", name, bin, s.Command, ourServices[name])
			continue
		}
		if !hasMainPackage(filepath.Join(root, "cmd", bin)) {
			// Under CI a failure; while the binaries are being written, a note.
			msg := fmt.Sprintf("%s runs %s, but cmd/%s has no main package", name, bin, bin)
			if testenv.CI() {
				t.Error(msg)
			} else {
				t.Log(msg + " (an error under CI)")
			}
		}
	}
}

func TestComposeEnvironmentIsDocumented(t *testing.T) {
	c := loadCompose(t)
	vars := configTable(t)
	for _, name := range sortedKeys(ourServices) {
		s, bin := c.Services[name], ourServices[name]
		for _, v := range sortedKeys(envOf(s)) {
			cv, ok := vars[v]
			switch {
			case !strings.HasPrefix(v, "TEXTKIT_"):
				t.Errorf("%s sets %s: our binaries read only TEXTKIT_* variables", name, v)
			case !ok:
				t.Errorf("%s sets %s, which is not in the README's configuration table", name, v)
			case !cv.usedBy(bin):
				t.Errorf("%s sets %s, but the README's table says only %v read it, not %s", name, v, cv.UsedBy, bin)
			}
		}
	}
	// A loopback default is wrong inside a container: every such setting of
	// a long-running service must be given.
	for _, name := range longRunning {
		set := envOf(c.Services[name])
		for _, v := range sortedKeys(vars) {
			cv := vars[v]
			if cv.usedBy(ourServices[name]) && strings.Contains(cv.Default, "127.0.0.1") && !set[v] {
				t.Errorf("%s does not set %s (default %s is loopback, wrong in a container)", name, v, cv.Default)
			}
		}
	}
	for name, v := range map[string]string{"vault-init": "TEXTKIT_VAULT_ADDR", "seed": "TEXTKIT_REDIS_ADDR"} {
		if !envOf(c.Services[name])[v] {
			t.Errorf("%s does not set %s", name, v)
		}
	}
}

func TestComposeGivesEachServiceItsOwnCredentials(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"gateway", "provisioner", "retention"} {
		s := c.Services[name]
		if got := s.Environment["TEXTKIT_NATS_USER"]; got != name {
			t.Errorf("%s: TEXTKIT_NATS_USER = %q, want %q", name, got, name)
		}
		wantPW := "${TEXTKIT_NATS_" + strings.ToUpper(name) + "_PASSWORD"
		if got := s.Environment["TEXTKIT_NATS_PASSWORD"]; !strings.HasPrefix(got, wantPW) {
			t.Errorf("%s: TEXTKIT_NATS_PASSWORD = %q, want %s…}", name, got, wantPW)
		}
		m := tokenFromRe.FindStringSubmatch(strings.Join(s.Command, " "))
		if want := "TEXTKIT_VAULT_TOKEN_" + strings.ToUpper(name); m == nil || m[1] != want {
			t.Errorf("%s: command %q must set TEXTKIT_VAULT_TOKEN from %s (written by vault-init)", name, s.Command, want)
		}
		if _, ok := s.Environment["TEXTKIT_VAULT_TOKEN"]; ok {
			t.Errorf("%s: TEXTKIT_VAULT_TOKEN must come from vault-init's output, not the compose file", name)
		}
	}
}

func TestComposeNATSMatchesItsConfig(t *testing.T) {
	c := loadCompose(t)
	conf, err := os.ReadFile(filepath.Join(root, "deploy/nats/nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range confVarRe.FindAllStringSubmatch(string(conf), -1) {
		want[m[1]] = true
	}
	if len(want) == 0 {
		t.Fatal("deploy/nats/nats.conf references no $TEXTKIT_* variable")
	}
	nats := c.Services["nats"]
	got := envOf(nats)
	for _, v := range sortedKeys(want) {
		if !got[v] {
			t.Errorf("nats service does not set %s, which deploy/nats/nats.conf reads", v)
		}
	}
	for _, v := range sortedKeys(got) {
		if !want[v] {
			t.Errorf("nats service sets %s, which deploy/nats/nats.conf does not read", v)
		}
	}
	// The local stack sets them too.
	up, err := os.ReadFile(filepath.Join(root, "scripts/up.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range sortedKeys(want) {
		if !strings.Contains(string(up), v+"=") {
			t.Errorf("scripts/up.sh does not set %s, which deploy/nats/nats.conf reads", v)
		}
	}
}

// TestComposeVaultMatchesItsConfig checks the persistent Vault: compose
// and scripts/up.sh set exactly the variables deploy/vault/vault.hcl needs,
// the storage is raft on a named volume (not in memory, not in the
// container), and the unseal key is kept on a named volume too.
func TestComposeVaultMatchesItsConfig(t *testing.T) {
	c := loadCompose(t)
	tmpl, err := os.ReadFile(filepath.Join(root, "deploy/vault/vault.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(tmpl)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^storage\s+"raft"\s*\{`),
		regexp.MustCompile(`(?m)^\s*path\s*=\s*"\$\{TEXTKIT_VAULT_STORAGE_DIR\}"`),
		regexp.MustCompile(`(?m)^\s*node_id\s*=`),
		regexp.MustCompile(`(?m)^api_addr\s*=`),
		regexp.MustCompile(`(?m)^cluster_addr\s*=`),
		regexp.MustCompile(`(?m)^disable_mlock\s*=\s*true`),
	} {
		if !want.MatchString(conf) {
			t.Errorf("deploy/vault/vault.hcl does not match %s", want)
		}
	}
	want := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{(TEXTKIT_[A-Z0-9_]+)\}`).FindAllStringSubmatch(conf, -1) {
		want[m[1]] = true
	}
	if len(want) == 0 {
		t.Fatal("deploy/vault/vault.hcl has no ${TEXTKIT_*} placeholder")
	}

	v := c.Services["vault"]
	cmd := strings.Join(v.Command, " ")
	if strings.Contains(cmd, "-dev") {
		t.Errorf("vault command %q runs dev mode (in memory)", v.Command)
	}
	// command: sh vault.sh run TEMPLATE CONFIG KEYS_FILE READY_FILE
	i := slices.Index(v.Command, "run")
	if i < 2 || len(v.Command) != i+5 || !strings.HasSuffix(v.Command[i-1], "/vault.sh") {
		t.Fatalf("vault command %q, want [sh …/vault.sh run TEMPLATE CONFIG KEYS_FILE READY_FILE]", v.Command)
	}
	keysFile, readyFile := v.Command[i+3], v.Command[i+4]
	got := envOf(v)
	for _, name := range sortedKeys(want) {
		if !got[name] {
			t.Errorf("vault service does not set %s, which deploy/vault/vault.hcl reads", name)
		}
	}
	for _, name := range sortedKeys(got) {
		if !want[name] && name != "TEXTKIT_VAULT_ROOT_TOKEN" {
			t.Errorf("vault service sets %s, which neither deploy/vault/vault.hcl nor vault.sh reads", name)
		}
	}
	if a, b := v.Environment["TEXTKIT_VAULT_ROOT_TOKEN"], c.Services["vault-init"].Environment["TEXTKIT_VAULT_ROOT_TOKEN"]; a == "" || a != b {
		t.Errorf("vault creates root token %q, but vault-init uses %q: want the same secrets.env variable", a, b)
	}

	// Storage and unseal key on named volumes (declared at the top level),
	// each on its own.
	onNamedVolume := func(what, path string) string {
		for _, vol := range v.Volumes {
			parts := strings.Split(vol, ":")
			if len(parts) < 2 {
				continue
			}
			if _, named := c.Volumes[parts[0]]; named && (path == parts[1] || strings.HasPrefix(path, parts[1]+"/")) {
				return parts[0]
			}
		}
		t.Errorf("vault keeps its %s in %s, which is not on a named volume: it would not survive the container", what, path)
		return ""
	}
	storage := onNamedVolume("storage", v.Environment["TEXTKIT_VAULT_STORAGE_DIR"])
	keys := onNamedVolume("unseal key", keysFile)
	if storage != "" && storage == keys {
		t.Errorf("vault keeps its storage and its unseal key on the same volume %s", storage)
	}
	if h := v.Healthcheck; h == nil || !strings.Contains(strings.Join(h.Test, " "), readyFile) || !strings.Contains(strings.Join(h.Test, " "), "/v1/sys/health") {
		t.Errorf("vault healthcheck must wait for %s (unsealed, root token made) and sys/health", readyFile)
	}

	// The local stack renders the same template with the same variables.
	up, err := os.ReadFile(filepath.Join(root, "scripts/up.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sortedKeys(want) {
		if !strings.Contains(string(up), name+"=") {
			t.Errorf("scripts/up.sh does not set %s, which deploy/vault/vault.hcl reads", name)
		}
	}
	for _, call := range []string{"deploy/vault/vault.sh\" config", "deploy/vault/vault.hcl", "vault_sh unseal"} {
		if !strings.Contains(string(up), call) {
			t.Errorf("scripts/up.sh does not contain %q", call)
		}
	}
}

func TestComposeMountsRepoFilesThatExist(t *testing.T) {
	c := loadCompose(t)
	for _, name := range sortedKeys(c.Services) {
		for src := range bindMounts(t, name, c.Services[name]) {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
		}
	}
	// Each config file is mounted where the service's command loads it from.
	for _, tc := range []struct{ service, file string }{
		{"nats", "deploy/nats/nats.conf"},
		{"redis", "deploy/redis/redis.conf"},
		{"seed", "deploy/seed.json"},
		{"vault", "deploy/vault/vault.sh"},
		{"vault", "deploy/vault/vault.hcl"},
	} {
		s := c.Services[tc.service]
		target, ok := bindMounts(t, tc.service, s)[tc.file]
		if !ok {
			t.Errorf("%s does not mount ./%s", tc.service, tc.file)
			continue
		}
		if !strings.Contains(strings.Join(s.Command, " "), target) {
			t.Errorf("%s mounts ./%s at %s, but its command %q does not load it", tc.service, tc.file, target, s.Command)
		}
	}
	for name := range c.Volumes {
		used := false
		for _, s := range c.Services {
			for _, v := range s.Volumes {
				used = used || strings.HasPrefix(v, name+":")
			}
		}
		if !used {
			t.Errorf("volume %s is declared but no service uses it", name)
		}
	}
}

func TestComposePortsMatchTheREADME(t *testing.T) {
	c := loadCompose(t)
	want := map[string][]int{}
	for _, p := range portTable(t) {
		want[p.Service] = append(want[p.Service], p.Port)
	}
	for _, name := range sortedKeys(c.Services) {
		if _, obs := observability[name]; obs {
			continue // not part of the stack's ports (TestComposeObservabilityProfile)
		}
		if _, cl := clusterServices[name]; cl {
			continue // the clustered stack's ports (TestComposeClusterProfile)
		}
		s := c.Services[name]
		var got []int
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s publishes %q: publish as 127.0.0.1:HOST:CONTAINER (loopback only)", name, p)
				continue
			}
			host, err1 := strconv.Atoi(parts[1])
			ctr, err2 := strconv.Atoi(parts[2])
			if err := errors.Join(err1, err2); err != nil || host != ctr {
				t.Errorf("%s publishes %q: want the same host and container port (%v)", name, p, err)
				continue
			}
			got = append(got, host)
		}
		slices.Sort(got)
		w := slices.Clone(want[name])
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s publishes ports %v, the README's Ports table says %v", name, got, w)
		}
	}
	for name := range want {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("README's Ports table lists %s, which docker-compose.yml does not have", name)
		}
	}
	// What the services listen on inside the network matches what is published.
	listen := [][2]string{
		{"gateway", "TEXTKIT_HTTP_ADDR"},
		{"gateway", "TEXTKIT_OPS_ADDR"},
		{"provisioner", "TEXTKIT_HTTP_ADDR"},
		{"retention", "TEXTKIT_HTTP_ADDR"},
		{"twilio-emulator", "TEXTKIT_TWILIO_EMULATOR_ADDR"},
	}
	for _, l := range listen {
		name, v := l[0], l[1]
		addr := c.Services[name].Environment[v]
		if !strings.HasPrefix(addr, "0.0.0.0:") {
			t.Errorf("%s: %s = %q, want 0.0.0.0:PORT inside the compose network", name, v, addr)
			continue
		}
		p, _ := strconv.Atoi(strings.TrimPrefix(addr, "0.0.0.0:"))
		if !slices.Contains(want[name], p) {
			t.Errorf("%s listens on %s, the README's Ports table says %v", name, addr, want[name])
		}
	}
	natsEnv := c.Services["nats"].Environment
	for _, v := range []string{"TEXTKIT_NATS_LISTEN", "TEXTKIT_NATS_MONITOR_LISTEN"} {
		_, port, _ := strings.Cut(natsEnv[v], ":")
		if p, _ := strconv.Atoi(port); !slices.Contains(want["nats"], p) {
			t.Errorf("nats: %s = %q is not a port of the README's table %v", v, natsEnv[v], want["nats"])
		}
	}
	vaultEnv := c.Services["vault"].Environment
	for _, v := range []string{"TEXTKIT_VAULT_LISTEN", "TEXTKIT_VAULT_CLUSTER_LISTEN"} {
		host, port, _ := strings.Cut(vaultEnv[v], ":")
		if p, _ := strconv.Atoi(port); host != "0.0.0.0" || !slices.Contains(want["vault"], p) {
			t.Errorf("vault: %s = %q, want 0.0.0.0:<one of the README's %v>", v, vaultEnv[v], want["vault"])
		}
	}
	redisCmd := c.Services["redis"].Command
	if i := slices.Index(redisCmd, "--port"); i < 0 || i+1 >= len(redisCmd) || !slices.Contains(want["redis"], atoi(redisCmd[i+1])) {
		t.Errorf("redis command %q must pass --port %v", redisCmd, want["redis"])
	}
	// Connection URLs inside the network use those ports too.
	for _, name := range longRunning {
		for v, dep := range map[string]string{
			"TEXTKIT_NATS_URL": "nats", "TEXTKIT_REDIS_ADDR": "redis",
			"TEXTKIT_VAULT_ADDR": "vault", "TEXTKIT_TWILIO_API_URL": "twilio-emulator",
		} {
			val, ok := c.Services[name].Environment[v]
			if !ok {
				continue
			}
			found := false
			for _, p := range want[dep] {
				found = found || strings.Contains(val, fmt.Sprintf("%s:%d", dep, p))
			}
			if !found {
				t.Errorf("%s: %s = %q, want %s:<one of %v>", name, v, val, dep, want[dep])
			}
		}
	}
}

func TestREADMEPortsMatchScriptDefaults(t *testing.T) {
	lib, err := os.ReadFile(filepath.Join(root, "scripts/lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^: "\$\{(TEXTKIT_[A-Z_]+_PORT):=(\d+)\}"`).FindAllStringSubmatch(string(lib), -1) {
		defaults[m[1]] = atoi(m[2])
	}
	ports := portTable(t)
	for _, p := range ports {
		if got, ok := defaults[p.Var]; !ok || got != p.Port {
			t.Errorf("README: %s port %d (%s); scripts/lib.sh defaults %s to %d", p.Service, p.Port, p.Var, p.Var, got)
		}
		delete(defaults, p.Var)
	}
	for v := range defaults {
		t.Errorf("scripts/lib.sh has %s, which the README's Ports table does not list", v)
	}
	// Every loopback default in the configuration table is one of those ports.
	known := map[int]bool{}
	for _, p := range ports {
		known[p.Port] = true
	}
	for _, v := range configTable(t) {
		for _, m := range regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindAllStringSubmatch(v.Default, -1) {
			if !known[atoi(m[1])] {
				t.Errorf("README: %s default %s uses port %s, which the Ports table does not list", v.Name, v.Default, m[1])
			}
		}
	}
}

func TestComposeStartsServicesInOrder(t *testing.T) {
	c := loadCompose(t)
	need := map[string]map[string]string{
		"vault-init":  {"vault": "service_healthy"},
		"seed":        {"redis": "service_healthy"},
		"provisioner": {"nats": "service_healthy", "redis": "service_healthy", "vault": "service_healthy", "vault-init": "service_completed_successfully", "twilio-emulator": "service_healthy"},
		"retention":   {"nats": "service_healthy", "redis": "service_healthy", "vault": "service_healthy", "vault-init": "service_completed_successfully"},
		"gateway":     {"nats": "service_healthy", "redis": "service_healthy", "vault": "service_healthy", "vault-init": "service_completed_successfully"},
	}
	for name, deps := range need {
		for dep, cond := range deps {
			if got := c.Services[name].DependsOn[dep].Condition; got != cond {
				t.Errorf("%s depends_on %s: condition %q, want %q", name, dep, got, cond)
			}
		}
	}
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == "service_healthy" && (c.Services[dep].Healthcheck == nil || len(c.Services[dep].Healthcheck.Test) == 0) {
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
}

func TestComposeImagesMatchPinnedVersions(t *testing.T) {
	c := loadCompose(t)
	natsV := strings.TrimPrefix(moduleVersion(t, "go.mod", "github.com/nats-io/nats-server/v2"), "v")
	if img := c.Services["nats"].Image; img != "nats:"+natsV+"-alpine" {
		t.Errorf("nats image %q, want nats:%s-alpine (the nats-server version in go.mod)", img, natsV)
	}
	vaultV := strings.TrimPrefix(moduleVersion(t, "tools/vault/go.mod", "github.com/hashicorp/vault"), "v")
	if img := c.Services["vault"].Image; img != "hashicorp/vault:"+vaultV {
		t.Errorf("vault image %q, want hashicorp/vault:%s (the version tools/vault builds)", img, vaultV)
	}
	if img := c.Services["redis"].Image; !strings.HasPrefix(img, "redis:7") {
		t.Errorf("redis image %q, want redis:7 (the major version of Debian 12's redis-server)", img)
	}
}

func TestDockerfileBuildsEveryBinary(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	goV := goDirective(t)
	if m := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)`).FindStringSubmatch(df); m == nil || m[1] != goV {
		t.Errorf("Dockerfile ARG GO_VERSION = %v, want %s (go.mod's go directive)", m, goV)
	}
	if !regexp.MustCompile(`go build .*\./cmd/\.\.\.`).MatchString(df) {
		t.Error("Dockerfile does not build ./cmd/...")
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY\s+([^-\s][^\n]*)$`).FindAllStringSubmatch(df, -1) {
		fields := strings.Fields(m[1])
		for _, src := range fields[:len(fields)-1] {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("Dockerfile COPY %s: %v", src, err)
			}
		}
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		line = strings.TrimSpace(line)
		for _, needed := range []string{"go.mod", "go.sum", "cmd", "internal", "schema"} {
			if line == needed || line == needed+"/" || line == "/"+needed {
				t.Errorf(".dockerignore excludes %s, which the build needs", needed)
			}
		}
	}
}

// TestBinariesAcceptExactlyTheDocumentedSettings builds each service binary
// and reads its flags from -h: every variable the README's table lists for
// it must be a flag, and every flag must be in the table.
func TestBinariesAcceptExactlyTheDocumentedSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	vars := configTable(t)
	dir := t.TempDir()
	flagRe := regexp.MustCompile(`(?m)^\s+--?([a-z][a-z0-9-]*)\b`)
	for _, bin := range flagBinaries {
		t.Run(bin, func(t *testing.T) {
			pkg := filepath.Join(root, "cmd", bin)
			if !hasMainPackage(pkg) {
				testenv.Missing(t, "cmd/"+bin, "its main package is not written yet")
			}
			exe := filepath.Join(dir, bin)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			build := exec.CommandContext(ctx, "go", "build", "-o", exe, "./cmd/"+bin)
			build.Dir = root
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./cmd/%s: %v\n%s", bin, err, out)
			}
			help := exec.CommandContext(ctx, exe, "-h")
			help.Env = []string{"PATH=" + os.Getenv("PATH")} // no TEXTKIT_* from the caller
			out, _ := help.CombinedOutput()                  // -h may exit non-zero
			got := map[string]bool{}
			for _, m := range flagRe.FindAllStringSubmatch(string(out), -1) {
				if m[1] != "h" && m[1] != "help" {
					got["TEXTKIT_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = true
				}
			}
			if len(got) == 0 {
				t.Fatalf("%s -h listed no flags:\n%s", bin, out)
			}
			for _, v := range sortedKeys(vars) {
				if vars[v].usedBy(bin) && !got[v] {
					t.Errorf("README says %s reads %s, but it has no flag -%s", bin, v, flagName(v))
				}
			}
			for _, v := range sortedKeys(got) {
				if cv, ok := vars[v]; !ok || !cv.usedBy(bin) {
					t.Errorf("%s has flag -%s (%s), which the README's configuration table does not list for %s", bin, flagName(v), v, bin)
				}
			}
		})
	}
}

func TestUpScriptGivesEachServiceDocumentedSettings(t *testing.T) {
	vars := configTable(t)
	b, err := os.ReadFile(filepath.Join(root, "scripts/up.sh"))
	if err != nil {
		t.Fatal(err)
	}
	arrays := map[string][]string{} // COMMON, SVC_ENV: the variables each assigns
	var cur string
	started := map[string]bool{}
	startRe := regexp.MustCompile(`^start_ours\s+([a-z-]+)`)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "COMMON=("), strings.HasPrefix(line, "SVC_ENV=("):
			cur, _, _ = strings.Cut(line, "=(")
			arrays[cur] = nil
			if strings.Contains(line, `"${COMMON[@]}"`) {
				arrays[cur] = slices.Clone(arrays["COMMON"])
			}
			if strings.HasSuffix(line, ")") {
				cur = ""
			}
		case cur != "" && line == ")":
			cur = ""
		case cur != "":
			if m := regexp.MustCompile(`^(TEXTKIT_[A-Z0-9_]+)=`).FindStringSubmatch(line); m != nil {
				arrays[cur] = append(arrays[cur], m[1])
			}
		case startRe.MatchString(line):
			name := startRe.FindStringSubmatch(line)[1]
			started[name] = true
			for _, v := range arrays["SVC_ENV"] {
				if cv, ok := vars[v]; !ok || !cv.usedBy(name) {
					t.Errorf("scripts/up.sh gives %s %s, which the README's table does not list for it", name, v)
				}
			}
		}
	}
	for _, name := range longRunning {
		if !started[name] {
			t.Errorf("scripts/up.sh does not start %s", name)
		}
	}
}

// ---- helpers ------------------------------------------------------------------------

func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "TEXTKIT_")), "_", "-")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func moduleVersion(t *testing.T, gomod, module string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, gomod))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s does not require %s", gomod, module)
	}
	return m[1]
}

func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return m[1]
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
