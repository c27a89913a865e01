package gateway_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
)

// A query sent with an Idempotency-Key and replayed after the customer's
// key was destroyed answers as a fresh request would: no stored copy of
// the first response brings the contact info back, and Redis holds none.
func TestIdempotencyKeyReplayAfterDestructionShowsNoContactInfo(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{Retention: true})
	ctx := context.Background()
	canary := "Replay" + strings.ReplaceAll(uuid.NewString(), "-", "")
	id := register(t, s, s.PartnerKey, "replay-co")
	r := s.Do(s.PartnerKey, `mutation {
		activateCustomer(input: {id: "`+id+`"})
		updateCustomerContactInfo(input: {id: "`+id+`", businessName: "`+canary+`", phoneNumber: "+14165551212", addressLine1: "1 Main St", postalCode: "M5E 1E5", province: "ON", country: "CA"})
	}`, nil)
	wantData(t, r, `{"activateCustomer":true,"updateCustomerContactInfo":true}`)

	q := `{ customer(id: "` + id + `") { contactInfo { businessName } contactInfoStatus } }`
	first := s.Do(s.PartnerKey, q, nil, "Idempotency-Key", "read-1")
	wantData(t, first, `{"customer":{"contactInfo":{"businessName":"`+canary+`"},"contactInfoStatus":"AVAILABLE"}}`)
	term := `mutation { terminateCustomer(input: {id: "` + id + `", retention: {strategy: NO_RETENTION}}) { response customer { contactInfoStatus } } }`
	r = s.Do(s.PartnerKey, term, nil, "Idempotency-Key", "term-1")
	if !strings.Contains(string(r.Raw), `"response":true`) {
		t.Fatalf("terminate: %s", r.Raw)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if r := s.Do(s.PartnerKey, q, nil); !strings.Contains(string(r.Raw), `"DESTROYED"`) {
			return fmt.Errorf("key not destroyed in time: %s", r.Raw)
		}
		return nil
	})

	again := s.Do(s.PartnerKey, q, nil, "Idempotency-Key", "read-1")
	wantData(t, again, `{"customer":{"contactInfo":null,"contactInfoStatus":"DESTROYED"}}`)
	// The termination's replay answers from its outcome and reads the
	// customer as it is now.
	r = s.Do(s.PartnerKey, term, nil, "Idempotency-Key", "term-1")
	wantData(t, r, `{"terminateCustomer":{"response":true,"customer":{"contactInfoStatus":"DESTROYED"}}}`)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("termination replay without Idempotent-Replayed: %s", r.Raw)
	}

	// No idempotency record holds the contact info, in any spelling.
	keys, err := s.RDB.Keys(ctx, "idem:*").Result()
	if err != nil || len(keys) < 2 {
		t.Fatalf("idempotency records %v (%v), want the two keys used", keys, err)
	}
	for _, k := range keys {
		v, err := s.RDB.Get(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))[:20]} {
			if strings.Contains(v, needle) {
				t.Fatalf("idempotency record %s holds the contact info: %q", k, v)
			}
		}
	}
}

// A mutation the gateway refused answers the same when retried with its
// key, even after the customer changed so that it would now succeed:
// a client told "failed" can trust it.
func TestIdempotencyKeyReplaysARefusal(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	id := register(t, s, s.PartnerKey, "refused-co")
	deactivate := `mutation { deactivateCustomer(input: {id: "` + id + `"}) }`
	r := s.Do(s.PartnerKey, deactivate, nil, "Idempotency-Key", "d-1")
	if code, _ := errorOf(t, r); code != "INVALID_TRANSITION" {
		t.Fatalf("deactivate a registered customer: %s", r.Raw)
	}
	wantData(t, s.Do(s.PartnerKey, `mutation { activateCustomer(input: {id: "`+id+`"}) }`, nil), `{"activateCustomer":true}`)
	r = s.Do(s.PartnerKey, deactivate, nil, "Idempotency-Key", "d-1")
	if code, _ := errorOf(t, r); code != "INVALID_TRANSITION" || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed refusal: %s (replayed %q), want INVALID_TRANSITION again", r.Raw, r.Header.Get("Idempotent-Replayed"))
	}
	wantData(t, s.Do(s.PartnerKey, `{ customer(id: "`+id+`") { status version } }`, nil), `{"customer":{"status":"ACTIVE","version":2}}`)
}

// A mutation that timed out is retried with its key after the command ran:
// the retry answers from the command's outcome instead of checking the
// transition again (which would now fail: the customer is active).
func TestIdempotencyKeyRetryAfterTimeoutAnswersTheOutcome(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{NoProvisioner: true, MutationTimeout: 300 * time.Millisecond})
	stop := s.StartProvisioner(t)
	id := register(t, s, s.PartnerKey, "retried-co")
	stop()
	activate := `mutation { activateCustomer(input: {id: "` + id + `"}) }`
	r := s.Do(s.PartnerKey, activate, nil, "Idempotency-Key", "a-1")
	if code, _ := errorOf(t, r); code != "TIMEOUT" {
		t.Fatalf("activate without a provisioner: %s", r.Raw)
	}
	s.StartProvisioner(t)
	testenv.Eventually(t, 20*time.Second, func() error {
		if r := s.Do(s.PartnerKey, `{ customer(id: "`+id+`") { status } }`, nil); !strings.Contains(string(r.Raw), "ACTIVE") {
			return fmt.Errorf("activation never applied: %s", r.Raw)
		}
		return nil
	})
	r = s.Do(s.PartnerKey, activate, nil, "Idempotency-Key", "a-1")
	wantData(t, r, `{"activateCustomer":true}`)
	wantData(t, s.Do(s.PartnerKey, `{ customer(id: "`+id+`") { version } }`, nil), `{"customer":{"version":2}}`)
}
