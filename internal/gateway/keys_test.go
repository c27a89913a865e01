package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/stacktest"
)

func TestRevokedKeyStopsWorkingAtOnce(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	ctx := context.Background()
	k, key, err := access.Issue(ctx, s.Store, "short-lived", access.RolePartner, stacktest.PartnerID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Do(key, `{ viewer { name } }`, nil); r.Status != http.StatusOK {
		t.Fatalf("new key: %d %s", r.Status, r.Raw)
	}
	if err := s.Store.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := s.Do(key, `{ viewer { name } }`, nil)
	if code, _ := errorOf(t, r); r.Status != http.StatusUnauthorized || code != "UNAUTHENTICATED" {
		t.Fatalf("revoked key: %d %s", r.Status, r.Raw)
	}
	// A key whose secret part is wrong is refused the same way.
	wrong := key[:len(key)-1] + map[bool]string{true: "0", false: "1"}[!strings.HasSuffix(key, "0")]
	if r := s.Do(wrong, `{ viewer { name } }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d %s", r.Status, r.Raw)
	}
}

func TestReferenceDataIsOperatorsOnly(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	// Partners see only themselves among partners.
	r := s.Do(s.PartnerKey, `{ partners { id } }`, nil)
	wantData(t, r, `{"partners":[{"id":"`+stacktest.PartnerID+`"}]}`)
	r = s.Do(s.OperatorKey, `{ partners { id } }`, nil)
	if !strings.Contains(string(r.Raw), stacktest.OtherPartnerID) || !strings.Contains(string(r.Raw), stacktest.PartnerID) {
		t.Fatalf("operator's partners: %s", r.Raw)
	}
	for _, q := range []string{
		`mutation { upsertPartner(input: {id: "` + stacktest.OtherPartnerID + `", name: "Taken over"}) { id } }`,
		`mutation { upsertIndustry(input: {id: "` + stacktest.IndustryID + `", name: "Renamed"}) { id } }`,
	} {
		r := s.Do(s.PartnerKey, q, nil)
		if code, _ := errorOf(t, r); code != "FORBIDDEN" {
			t.Fatalf("partner %s: %s", q, r.Raw)
		}
	}
	r = s.Do(s.OperatorKey, `mutation { upsertIndustry(input: {id: "0f6b2c1d-3e4a-4b5c-8d9e-0a1b2c3d4e5f", name: "Hospitality"}) { id name } }`, nil)
	wantData(t, r, `{"upsertIndustry":{"id":"0f6b2c1d-3e4a-4b5c-8d9e-0a1b2c3d4e5f","name":"Hospitality"}}`)
	r = s.Do(s.PartnerKey, `{ industries { name } }`, nil)
	if !strings.Contains(string(r.Raw), "Hospitality") {
		t.Fatalf("industries: %s", r.Raw)
	}
}
