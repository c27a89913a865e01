package deploy_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
)

// vaultScript is docker compose's Vault entrypoint, run here outside a
// container: `sh deploy/vault/vault.sh run TEMPLATE CONFIG KEYS READY` with
// the real vault binary, on loopback ports, in a temporary directory.
type vaultScript struct {
	t         *testing.T // the test the processes belong to (not a subtest)
	dir, addr string
	env       []string
	proc      *testenv.Process
	tmpl      string // the config template, relative to the repo; "" is deploy/vault/vault.hcl
	keys      string // the unseal key's file; "" is keys/unseal.env in dir
	// wait bounds waitReady; 0 is 90s. A restarted cluster's nodes wait for
	// each other while they unseal, which on a loaded machine takes longer.
	wait time.Duration
}

func newVaultScript(t *testing.T) *vaultScript {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Vault")
	}
	bin := testenv.Binary(t, "vault")
	dir := t.TempDir()
	port, cluster := testenv.FreePort(t), testenv.FreePort(t)
	for cluster == port {
		cluster = testenv.FreePort(t)
	}
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	return &vaultScript{t: t, dir: dir, addr: addr, env: []string{
		"HOME=" + dir,
		"VAULT_ADDR=" + addr,
		"TEXTKIT_VAULT_BIN=" + bin,
		"TEXTKIT_WAIT_SECONDS=60",
		"TEXTKIT_VAULT_STORAGE_DIR=" + filepath.Join(dir, "file", "raft"),
		fmt.Sprintf("TEXTKIT_VAULT_LISTEN=127.0.0.1:%d", port),
		fmt.Sprintf("TEXTKIT_VAULT_CLUSTER_LISTEN=127.0.0.1:%d", cluster),
		"TEXTKIT_VAULT_API_ADDR=" + addr,
		fmt.Sprintf("TEXTKIT_VAULT_CLUSTER_ADDR=https://127.0.0.1:%d", cluster),
		"TEXTKIT_VAULT_ROOT_TOKEN=test-root-one",
	}}
}

func (v *vaultScript) keysFile() string {
	if v.keys != "" {
		return v.keys
	}
	return filepath.Join(v.dir, "keys", "unseal.env")
}
func (v *vaultScript) readyFile() string { return filepath.Join(v.dir, "ready") }

// start runs vault.sh run (vault.hcl, or the template set in tmpl) and
// waits until it is ready or, with wantFail, has failed; it returns the
// script's output.
func (v *vaultScript) start(t *testing.T, wantFail bool, extraEnv ...string) string {
	t.Helper()
	v.launch(extraEnv...)
	return v.waitReady(t, wantFail)
}

// launch starts vault.sh run without waiting.
func (v *vaultScript) launch(extraEnv ...string) {
	var proc *testenv.Process
	v.t.Cleanup(func() {
		if proc != nil {
			_ = syscall.Kill(-proc.Pid(), syscall.SIGKILL)
		}
	})
	tmpl := v.tmpl
	if tmpl == "" {
		tmpl = "deploy/vault/vault.hcl"
	}
	proc = testenv.StartProcess(v.t, "sh", []string{
		filepath.Join(root, "deploy/vault/vault.sh"), "run",
		filepath.Join(root, tmpl), filepath.Join(v.dir, "config", "textkit.hcl"),
		v.keysFile(), v.readyFile(),
	}, append(slices.Clone(v.env), extraEnv...))
	v.proc = proc
}

// waitReady waits until the launched vault.sh run is ready or, with
// wantFail, has failed, and returns its output.
func (v *vaultScript) waitReady(t *testing.T, wantFail bool) string {
	t.Helper()
	wait := v.wait
	if wait == 0 {
		wait = 90 * time.Second
	}
	testenv.Eventually(t, wait, func() error {
		if exited, err := v.proc.Exited(); exited {
			if wantFail && err != nil {
				return nil
			}
			t.Fatalf("vault.sh run exited (%v) before it was ready:\n%s", err, v.proc.Output())
		}
		if _, err := os.Stat(v.readyFile()); err == nil {
			if wantFail {
				t.Fatalf("vault.sh run became ready, want it to fail:\n%s", v.proc.Output())
			}
			return nil
		}
		return fmt.Errorf("vault.sh run not ready:\n%s", v.proc.Output())
	})
	return v.proc.Output()
}

func (v *vaultScript) stop(t *testing.T) {
	t.Helper()
	v.proc.Stop(t)
	if _, err := os.Stat(v.readyFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file left behind after SIGTERM: %v", err)
	}
	v.waitDown(t)
}

// waitDown waits until Vault's port no longer answers.
func (v *vaultScript) waitDown(t *testing.T) {
	t.Helper()
	c := v.client(t, "")
	testenv.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Sys().SealStatusWithContext(ctx)
		cancel()
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		return fmt.Errorf("vault still answers after it should have stopped (%v)", err)
	})
}

// serverPid is the pid of `vault server`, the script's child.
func (v *vaultScript) serverPid(t *testing.T) int {
	t.Helper()
	pid := v.proc.Pid()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Skipf("cannot list the script's children: %v", err)
	}
	kids := strings.Fields(string(b))
	if len(kids) != 1 {
		t.Fatalf("vault.sh (pid %d) has children %q, want just vault server", pid, kids)
	}
	n, _ := strconv.Atoi(kids[0])
	return n
}

func (v *vaultScript) client(t *testing.T, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = v.addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// checkRoot checks that token is a root token that never expires.
func checkRoot(t *testing.T, c *api.Client) {
	t.Helper()
	s, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self with the root token: %v", err)
	}
	policies, _ := s.TokenPolicies()
	ttl, _ := s.TokenTTL()
	if len(policies) != 1 || policies[0] != "root" || ttl != 0 {
		t.Errorf("root token: policies %v, ttl %v; want [root], no expiry", policies, ttl)
	}
}

// TestVaultScriptKeepsKeys checks docker compose's persistent Vault without
// Docker: vault.sh initialises a new Vault once (unseal key to the keys
// file, root token TEXTKIT_VAULT_ROOT_TOKEN created), and after a clean
// stop, a SIGKILL of the server, or a changed root token id, it unseals the
// same storage again: a transit key and the service tokens of
// `textkit vault-init` (vault.Bootstrap) are still there.
func TestVaultScriptKeepsKeys(t *testing.T) {
	v := newVaultScript(t)
	out := v.start(t, false)
	if !strings.Contains(out, "initialising") {
		t.Errorf("first start did not initialise Vault:\n%s", out)
	}
	keys, err := os.ReadFile(v.keysFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(v.keysFile()); fi.Mode().Perm() != 0o600 || !strings.HasPrefix(string(keys), "TEXTKIT_VAULT_UNSEAL_KEY=") {
		t.Errorf("keys file: mode %v, contents %d bytes starting %.25q; want 0600 with TEXTKIT_VAULT_UNSEAL_KEY", fi.Mode().Perm(), len(keys), keys)
	}
	cfg, err := os.ReadFile(filepath.Join(v.dir, "config", "textkit.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), "${TEXTKIT_") || !strings.Contains(string(cfg), filepath.Join(v.dir, "file", "raft")) {
		t.Errorf("rendered config is not filled in:\n%s", cfg)
	}

	root1 := v.client(t, "test-root-one")
	checkRoot(t, root1)
	ctx := context.Background()
	tokens, err := vault.Bootstrap(ctx, root1)
	if err != nil {
		t.Fatalf("vault.Bootstrap on the new Vault: %v", err)
	}
	if _, err := root1.Logical().Write("transit/keys/kept", map[string]any{"type": "aes256-gcm96"}); err != nil {
		t.Fatalf("create transit key: %v", err)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("contact info"))
	enc, err := root1.Logical().Write("transit/encrypt/kept", map[string]any{"plaintext": plain})
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	ciphertext, _ := enc.Data["ciphertext"].(string)

	// decrypts checks that the key is still there, through token c.
	decrypts := func(t *testing.T, c *api.Client, when string) {
		t.Helper()
		s, err := c.Logical().Write("transit/decrypt/kept", map[string]any{"ciphertext": ciphertext})
		if err != nil || s == nil || s.Data["plaintext"] != plain {
			t.Fatalf("%s: decrypt = %v, %v; want the plaintext back", when, s, err)
		}
		for name, tok := range map[string]string{"gateway": tokens.Gateway, "provisioner": tokens.Provisioner, "retention": tokens.Retention} {
			if _, err := v.client(t, tok).Auth().Token().LookupSelf(); err != nil {
				t.Errorf("%s: the %s token of vault-init no longer works: %v", when, name, err)
			}
		}
	}

	t.Run("SIGTERM then start", func(t *testing.T) {
		v.stop(t)
		out := v.start(t, false)
		if strings.Contains(out, "initialising") {
			t.Errorf("Vault was initialised again:\n%s", out)
		}
		decrypts(t, root1, "after a restart")
		// vault-init again, as every `docker compose up` does: idempotent.
		if _, err := vault.Bootstrap(ctx, root1); err != nil {
			t.Errorf("vault.Bootstrap on the restarted Vault: %v", err)
		}
	})

	t.Run("server SIGKILL then start", func(t *testing.T) {
		pid := v.serverPid(t)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			if exited, _ := v.proc.Exited(); !exited {
				return errors.New("vault.sh still runs after its server was killed")
			}
			return nil
		})
		if _, err := v.proc.Exited(); err == nil {
			t.Errorf("vault.sh exited 0 after its server was killed; want a failure (compose restarts it)")
		}
		v.start(t, false)
		decrypts(t, root1, "after vault server was killed")
	})

	t.Run("missing unseal key", func(t *testing.T) {
		v.stop(t)
		if err := os.Rename(v.keysFile(), v.keysFile()+".saved"); err != nil {
			t.Fatal(err)
		}
		out := v.start(t, true)
		if !strings.Contains(out, "holds no TEXTKIT_VAULT_UNSEAL_KEY") {
			t.Errorf("without the unseal key vault.sh said:\n%s", out)
		}
		v.waitDown(t)
		if err := os.Rename(v.keysFile()+".saved", v.keysFile()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("new root token id", func(t *testing.T) {
		if ok, _ := v.proc.Exited(); !ok {
			v.stop(t)
		}
		out := v.start(t, false, "TEXTKIT_VAULT_ROOT_TOKEN=test-root-two")
		if !strings.Contains(out, "generated from the unseal key") {
			t.Errorf("vault.sh did not make the new root token from the unseal key:\n%s", out)
		}
		root2 := v.client(t, "test-root-two")
		checkRoot(t, root2)
		decrypts(t, root2, "with the new root token")
	})
}
