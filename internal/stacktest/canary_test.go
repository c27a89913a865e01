package stacktest_test

// The crypto-shredding promise, end to end: a customer's contact info
// carries a unique string; after termination with NO_RETENTION the string
// is nowhere in plaintext — not in any Redis key, not in Redis' AOF, not in
// JetStream's store, not in any service's log — and what is stored no
// longer decrypts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/vault"
)

func TestCanaryContactInfoIsShredded(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{Retention: true})
	ctx := context.Background()
	canary := "Canary" + strings.ReplaceAll(uuid.NewString(), "-", "")

	r := s.Do(s.PartnerKey, `mutation { registerCustomer(input: {space: "canary-co", partnerId: "`+stacktest.PartnerID+`", industryId: "`+stacktest.IndustryID+`", label: "Canary Co"}) { response customerId } }`, nil)
	var reg struct {
		RegisterCustomer struct {
			Response   bool
			CustomerID string
		}
	}
	mustDecode(t, r, &reg)
	id := reg.RegisterCustomer.CustomerID
	if !reg.RegisterCustomer.Response {
		t.Fatalf("register: %s", r.Raw)
	}
	r = s.Do(s.PartnerKey, `mutation {
		activateCustomer(input: {id: "`+id+`"})
		updateCustomerContactInfo(input: {id: "`+id+`", businessName: "`+canary+` Inc.", secondaryName: "`+canary+`", phoneNumber: "+14165551212", addressLine1: "1 `+canary+` St", postalCode: "M5E 1E5", province: "ON", country: "CA"})
	}`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("activate + update: %s", r.Raw)
	}
	// A partner publishing straight onto NATS sends plaintext: the
	// provisioner seals it, and erases the command from the stream.
	direct := trustCommand(command.UpdateContactInfo, id, "", command.ContactInfoPayload{ContactInfo: &customer.ContactInfo{
		BusinessName: canary + " Direct", PhoneNumber: "+14165551212", AddressLine1: "2 " + canary + " Ave",
		PostalCode: "M5E 1E5", Province: "ON", Country: "CA",
	}})
	if o := publishAndWait(t, s, command.CommandSubject(stacktest.PartnerID, id), direct); o.Status != command.Applied {
		t.Fatalf("direct update: %+v", o)
	}
	// While the key lives the owner reads the contact info back.
	r = s.Do(s.PartnerKey, `{ customer(id: "`+id+`") { contactInfo { businessName } contactInfoStatus } }`, nil)
	if !strings.Contains(string(r.Raw), canary+" Direct") || !strings.Contains(string(r.Raw), "AVAILABLE") {
		t.Fatalf("contact info before termination: %s", r.Raw)
	}
	c, err := s.Store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sealed := c.ContactCiphertext()

	r = s.Do(s.PartnerKey, `mutation { terminateCustomer(input: {id: "`+id+`", retention: {strategy: NO_RETENTION, period: 12}}) { response } }`, nil)
	if !strings.Contains(string(r.Raw), `"response":true`) {
		t.Fatalf("terminate: %s", r.Raw)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = s.Do(s.PartnerKey, `{ customer(id: "`+id+`") { status encryptionKey { status destroyedAt } contactInfo { businessName } contactInfoStatus } }`, nil)
		if strings.Contains(string(r.Raw), `"status":"DESTROYED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key not destroyed: %s", r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(string(r.Raw), `"contactInfo":null`) || !strings.Contains(string(r.Raw), `"contactInfoStatus":"DESTROYED"`) {
		t.Fatalf("after destruction the contact info must read as destroyed, not fail: %s", r.Raw)
	}

	// The stored ciphertext no longer decrypts, for any service.
	for _, tok := range []string{s.Tokens.Gateway, s.Vault.RootToken} {
		if _, err := s.Vault.Client(t, tok).Decrypt(ctx, id, sealed); !errors.Is(err, vault.ErrKeyNotFound) {
			t.Fatalf("decrypt after destruction: %v, want ErrKeyNotFound", err)
		}
	}

	// Nowhere in plaintext: every Redis key and value …
	var cursor uint64
	for {
		keys, next, err := s.RDB.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			dump, err := s.RDB.Dump(ctx, k).Result()
			if err != nil {
				t.Fatalf("dump %s: %v", k, err)
			}
			if strings.Contains(k, canary) || strings.Contains(dump, canary) {
				t.Errorf("redis key %s holds the canary in plaintext", k)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	// … Redis' append-only file, JetStream's store, and the services' logs.
	if _, err := s.RDB.Do(ctx, "BGREWRITEAOF").Result(); err != nil {
		t.Logf("bgrewriteaof: %v", err)
	}
	for _, dir := range []string{s.Redis.Dir, s.NATS.StoreDir} {
		scanDir(t, dir, canary)
	}
	if bytes.Contains(s.Logs.Bytes(), []byte(canary)) {
		t.Errorf("the services' logs hold the canary in plaintext")
	}
	if s.Logs.Len() == 0 {
		t.Fatal("no logs were captured: the log scan proves nothing")
	}
}

func scanDir(t *testing.T, dir, needle string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte(needle)) {
			t.Errorf("%s holds the canary in plaintext", path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	if files == 0 {
		t.Fatalf("no files under %s: the scan proves nothing", dir)
	}
}

func mustDecode(t *testing.T, r *stacktest.Response, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.Raw)
	}
	b, _ := jsonMarshal(r.Data)
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

var (
	jsonMarshal   = json.Marshal
	jsonUnmarshal = json.Unmarshal
)
