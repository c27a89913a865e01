package access_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/access"
)

// memKeys is a KeyStore in memory: these tests are about the rules, the
// Redis store's own tests (and the gateway's) use the real one.
type memKeys map[string]access.APIKey

func (m memKeys) PutAPIKey(_ context.Context, k access.APIKey) error {
	if _, ok := m[k.ID]; ok {
		return access.ErrKeyExists
	}
	m[k.ID] = k
	return nil
}

func (m memKeys) APIKey(_ context.Context, id string) (access.APIKey, error) {
	k, ok := m[id]
	if !ok {
		return access.APIKey{}, access.ErrInvalidAPIKey
	}
	return k, nil
}

const partnerID = "7f3c1c9e-2b1d-4c55-8a0e-6f1f5a3b2c10"

func TestIssuedKeysAuthenticateUntilRevoked(t *testing.T) {
	ctx := context.Background()
	s := memKeys{}
	k, full, err := access.Issue(ctx, s, "ci", access.RolePartner, partnerID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s[k.ID].SecretHash, full[len(full)-48:]) || !strings.HasPrefix(full, "tk_"+k.ID+"_") {
		t.Fatalf("key %q, stored %+v: want tk_<id>_<secret> and only the secret's hash stored", full, s[k.ID])
	}
	got, err := access.Authenticate(ctx, s, full)
	if err != nil || got.ID != k.ID || got.Role != access.RolePartner || got.PartnerID != partnerID {
		t.Fatalf("authenticate: %+v, %v", got, err)
	}
	p := access.PrincipalOf(got)
	if p.Operator() || !p.Sees(partnerID) || p.Sees("another") {
		t.Fatalf("a partner's principal %+v sees the wrong customers", p)
	}
	wrong := full[:len(full)-1] + map[bool]string{true: "0", false: "1"}[full[len(full)-1] != '0']
	for name, key := range map[string]string{"wrong secret": wrong, "no prefix": full[3:], "short": full[:20], "upper case": strings.ToUpper(full)} {
		if _, err := access.Authenticate(ctx, s, key); !errors.Is(err, access.ErrInvalidAPIKey) {
			t.Errorf("%s: %v, want ErrInvalidAPIKey", name, err)
		}
	}
	rev := s[k.ID]
	rev.RevokedAt = time.Now()
	s[k.ID] = rev
	if _, err := access.Authenticate(ctx, s, full); !errors.Is(err, access.ErrInvalidAPIKey) {
		t.Fatalf("a revoked key: %v, want ErrInvalidAPIKey", err)
	}
}

func TestKeysBelongToTheirRole(t *testing.T) {
	for _, c := range []struct {
		role    access.Role
		partner string
		ok      bool
	}{
		{access.RolePartner, partnerID, true},
		{access.RoleOperator, "", true},
		{access.RolePartner, "", false},
		{access.RoleOperator, partnerID, false},
		{"ADMIN", "", false},
	} {
		_, _, err := access.NewKey("k", c.role, c.partner, time.Now())
		if (err == nil) != c.ok {
			t.Errorf("role %s, partner %q: %v, want ok=%v", c.role, c.partner, err, c.ok)
		}
	}
	op := access.Principal{Role: access.RoleOperator}
	if !op.Operator() || !op.Sees(partnerID) {
		t.Error("an operator does not see every partner's customers")
	}
}
