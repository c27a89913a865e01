package vault_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/vault"
)

// grant is one capability a policy grants on a path glob.
type grant struct{ path, capability string }

var policyBlock = regexp.MustCompile(`(?s)path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}`)

// readPolicy parses the path blocks of an HCL policy file into grants and
// denied paths.
func readPolicy(t *testing.T, file string) (grants []grant, denied []string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			body.WriteString(line + "\n")
		}
	}
	blocks := policyBlock.FindAllStringSubmatch(body.String(), -1)
	if len(blocks) == 0 {
		t.Fatalf("%s: no path blocks", file)
	}
	if n := strings.Count(body.String(), "path "); n != len(blocks) {
		t.Fatalf("%s: %d path blocks, %d parsed: the parser does not understand this file", file, n, len(blocks))
	}
	for _, m := range blocks {
		for _, c := range strings.Split(m[2], ",") {
			c = strings.Trim(strings.TrimSpace(c), `"`)
			if c == "deny" {
				denied = append(denied, m[1])
			} else if c != "" {
				grants = append(grants, grant{m[1], c})
			}
		}
	}
	return grants, denied
}

// covers reports whether policy path glob covers path: "*" at the end is a
// prefix match, "+" one whole segment.
func covers(glob, path string) bool {
	if prefix, ok := strings.CutSuffix(glob, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	g, p := strings.Split(glob, "/"), strings.Split(path, "/")
	if len(g) != len(p) {
		return false
	}
	for i := range g {
		if g[i] != "+" && g[i] != p[i] {
			return false
		}
	}
	return true
}

// methodsOf lists the methods of the interface type T.
func methodsOf[T any]() []string {
	it := reflect.TypeFor[T]()
	var out []string
	for i := range it.NumMethod() {
		out = append(out, it.Method(i).Name)
	}
	return out
}

// TestPoliciesGrantExactlyWhatTheCodeCalls derives each service's Vault
// calls from the interface its code holds the Vault client by (plus what
// every service does with its token) and compares them with its policy:
// every call is granted, and every grant serves a call.
func TestPoliciesGrantExactlyWhatTheCodeCalls(t *testing.T) {
	for _, c := range []struct {
		policy  string
		methods []string
	}{
		{"textkit-gateway", methodsOf[gateway.Keys]()},
		{"textkit-provisioner", methodsOf[provisioner.Keys]()},
		{"textkit-retention", methodsOf[retention.Keys]()},
	} {
		t.Run(c.policy, func(t *testing.T) {
			grants, denied := readPolicy(t, "policies/"+c.policy+".hcl")
			var calls []vault.Endpoint
			for _, m := range append(slices.Clone(vault.ServiceMethods), c.methods...) {
				eps, ok := vault.Endpoints[m]
				if !ok && m != "Health" {
					t.Fatalf("vault.Endpoints has no entry for %s, which %s's code calls", m, c.policy)
				}
				calls = append(calls, eps...)
			}
			for _, call := range calls {
				path := strings.ReplaceAll(call.Path, "customer-*", "customer-0b7c4c1e-5d0c-4f57-9d3c-2a1e8d0f6a11")
				granted := slices.ContainsFunc(grants, func(g grant) bool { return g.capability == call.Capability && covers(g.path, path) })
				if !granted {
					t.Errorf("%s calls %s with %s, which the policy does not grant", c.policy, call.Path, call.Capability)
				}
				if slices.ContainsFunc(denied, func(d string) bool { return covers(d, path) }) {
					t.Errorf("%s calls %s, which the policy denies", c.policy, call.Path)
				}
			}
			for _, g := range grants {
				used := slices.ContainsFunc(calls, func(call vault.Endpoint) bool {
					return call.Capability == g.capability && covers(g.path, call.Path)
				})
				if !used {
					t.Errorf("%s grants %s on %s, which its code never calls", c.policy, g.capability, g.path)
				}
			}
		})
	}
}

func TestPolicyPathGlobs(t *testing.T) {
	for _, c := range []struct {
		glob, path string
		want       bool
	}{
		{"transit/keys/customer-*", "transit/keys/customer-1", true},
		{"transit/keys/customer-*", "transit/keys/customer-1/config", true},
		{"transit/keys/customer-*", "transit/keys/other", false},
		{"transit/keys/+/rotate", "transit/keys/customer-1/rotate", true},
		{"transit/keys/+/rotate", "transit/keys/customer-1/config", false},
		{"auth/token/renew-self", "auth/token/renew-self", true},
		{"auth/token/renew-self", "auth/token/renew", false},
	} {
		if got := covers(c.glob, c.path); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.glob, c.path, got, c.want)
		}
	}
}
