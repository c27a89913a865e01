package scripts_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/testenv"
)

// docsPartnerID is the partner deploy/seed.json creates and up.sh's API key
// belongs to (the customer-facing docs' example partner).
const docsPartnerID = "25521a6f-b8d1-414b-8575-545430f076fd"

// docsIndustryID is the industry deploy/seed.json creates.
const docsIndustryID = "e4c81004-1a4c-477f-97e3-b67022e9a351"

// TestStackKeepsVaultKeys is the erasure issue's "a key is never destroyed
// by accident" for the local stack: a customer's contact info, encrypted
// with its own Vault transit key, must still read back after scripts/down.sh
// and scripts/up.sh, and after Vault is killed with SIGKILL and up.sh
// restarts and unseals it. One stack serves both, in order.
func TestStackKeepsVaultKeys(t *testing.T) {
	st := newStack(t)
	if st.skipMissing {
		t.Skip("needs every binary of cmd/ (see the log above)")
	}
	st.run(t, "up.sh")

	// Vault is the persistent one: initialised by up.sh, its unseal key in
	// secrets.env, its storage in the data directory.
	secrets := readEnvFile(t, filepath.Join(st.dir, "secrets.env"))
	if secrets["TEXTKIT_VAULT_UNSEAL_KEY"] == "" {
		t.Fatal("secrets.env has no TEXTKIT_VAULT_UNSEAL_KEY after up.sh initialised Vault")
	}
	if fi, err := os.Stat(filepath.Join(st.dir, "secrets.env")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets.env (holding the unseal key): %v, want mode 0600", err)
	}
	vaultURL := fmt.Sprintf("http://127.0.0.1:%d", st.port(t, "TEXTKIT_VAULT_PORT"))
	if sealed, initialized := vaultSealStatus(t, vaultURL); sealed || !initialized {
		t.Fatalf("Vault after up.sh: sealed=%v initialized=%v, want an initialised, unsealed Vault", sealed, initialized)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "vault", "raft", "vault.db")); err != nil {
		t.Errorf("Vault's raft storage is not in the data directory: %v", err)
	}

	gql := &graphQLClient{
		url: fmt.Sprintf("http://127.0.0.1:%d/graphql", st.port(t, "TEXTKIT_GATEWAY_PORT")),
		key: strings.TrimSpace(readFile(t, filepath.Join(st.dir, "api-key"))),
	}
	id := uuid.NewString()
	const businessName = "Persistent Widgets Ltd."
	reg := gql.do(t, fmt.Sprintf(`mutation { registerCustomer(input: {id: %q, space: %q, partnerId: %q, industryId: %q, label: "Kept keys"}) { response userErrors { field message } } }`,
		id, "kept-"+id[:8], docsPartnerID, docsIndustryID))
	if !strings.Contains(reg, `"response":true`) || !strings.Contains(reg, `"userErrors":[]`) {
		t.Fatalf("registerCustomer answered %s", reg)
	}
	act := gql.do(t, fmt.Sprintf(`mutation { activateCustomer(input: {id: %q}) }`, id))
	if !strings.Contains(act, `"activateCustomer":true`) {
		t.Fatalf("activateCustomer answered %s", act)
	}
	upd := gql.do(t, fmt.Sprintf(`mutation { updateCustomerContactInfo(input: {id: %q, businessName: %q, phoneNumber: "+14165551212", addressLine1: "1 Yonge St", postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`,
		id, businessName))
	if !strings.Contains(upd, `"updateCustomerContactInfo":true`) {
		t.Fatalf("updateCustomerContactInfo answered %s", upd)
	}
	checkContactInfo(t, gql, id, businessName, "after it was set")

	t.Run("down then up", func(t *testing.T) {
		vaultPid := alivePid(t, st.dir, "vault")
		st.run(t, "down.sh")
		if processAlive(vaultPid) {
			t.Fatalf("Vault (pid %d) still runs after down.sh", vaultPid)
		}
		st.run(t, "up.sh")
		checkContactInfo(t, gql, id, businessName, "after down.sh and up.sh")
	})

	t.Run("vault SIGKILL then up", func(t *testing.T) {
		pid := alivePid(t, st.dir, "vault")
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 vault (pid %d): %v", pid, err)
		}
		// up.sh started it in its own session, so nobody waits for it here:
		// gone means its port no longer answers.
		waitClosed(t, st.port(t, "TEXTKIT_VAULT_PORT"))
		st.run(t, "up.sh")
		if got := alivePid(t, st.dir, "vault"); got == pid {
			t.Fatalf("vault pid file still names the killed process %d", pid)
		}
		checkContactInfo(t, gql, id, businessName, "after Vault was killed and up.sh restarted it")
	})
}

// checkContactInfo reads customer id's contact info through GraphQL: it
// must be readable (AVAILABLE) with businessName, the key ACTIVE.
func checkContactInfo(t *testing.T, gql *graphQLClient, id, businessName, when string) {
	t.Helper()
	got := gql.do(t, fmt.Sprintf(`{ customer(id: %q) { status contactInfoStatus contactInfo { businessName } encryptionKey { status } } }`, id))
	var resp struct {
		Data struct {
			Customer *struct {
				Status            string `json:"status"`
				ContactInfoStatus string `json:"contactInfoStatus"`
				ContactInfo       *struct {
					BusinessName string `json:"businessName"`
				} `json:"contactInfo"`
				EncryptionKey struct {
					Status string `json:"status"`
				} `json:"encryptionKey"`
			} `json:"customer"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(got), &resp); err != nil || resp.Data.Customer == nil {
		t.Fatalf("%s: customer query answered %s (%v)", when, got, err)
	}
	c := resp.Data.Customer
	if c.ContactInfoStatus != "AVAILABLE" || c.ContactInfo == nil || c.ContactInfo.BusinessName != businessName || c.EncryptionKey.Status != "ACTIVE" {
		t.Fatalf("%s: customer %s answered %s; want contactInfoStatus AVAILABLE, businessName %q, key ACTIVE", when, id, got, businessName)
	}
}

// graphQLClient posts queries to the stack's gateway with a partner key.
type graphQLClient struct{ url, key string }

// do posts query and returns the response body; a transport error or a
// GraphQL error fails t.
func (c *graphQLClient) do(t *testing.T, query string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", c.url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(got), `"errors":`) {
		t.Fatalf("POST %s %s: %s %s", c.url, query, resp.Status, got)
	}
	return string(got)
}

// vaultSealStatus asks Vault's sys/seal-status (it answers in any state).
func vaultSealStatus(t *testing.T, url string) (sealed, initialized bool) {
	t.Helper()
	resp, err := http.Get(url + "/v1/sys/seal-status")
	if err != nil {
		t.Fatalf("vault seal-status: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var s struct {
		Sealed      bool `json:"sealed"`
		Initialized bool `json:"initialized"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("vault seal-status: %v", err)
	}
	return s.Sealed, s.Initialized
}

// waitClosed waits until nothing accepts connections on 127.0.0.1:port.
func waitClosed(t *testing.T, port int) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return nil
		}
		_ = c.Close()
		return fmt.Errorf("port %d still answers after its process was killed", port)
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
