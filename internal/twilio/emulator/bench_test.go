package emulator_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/textkit/customers/internal/twilio/emulator"
)

// BenchmarkListByName is the list a registration makes (twice) to find its
// sub-account by name, in an emulator that holds n accounts: with the name
// index its cost does not grow with n.
func BenchmarkListByName(b *testing.B) {
	for _, n := range []int{100, 20000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			e, err := emulator.New(emulator.Config{AuthToken: "secret1"})
			if err != nil {
				b.Fatal(err)
			}
			h := e.Handler()
			for i := range n {
				req := httptest.NewRequest(http.MethodPost, "/2010-04-01/Accounts.json", nil)
				req.PostForm = url.Values{"FriendlyName": {fmt.Sprintf("customer-%d", i)}}
				req.SetBasicAuth(e.AccountSID(), "secret1")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusCreated {
					b.Fatalf("create: %d %s", w.Code, w.Body)
				}
			}
			target := "/2010-04-01/Accounts.json?FriendlyName=customer-" + fmt.Sprint(n/2)
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.SetBasicAuth(e.AccountSID(), "secret1")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("list: %d", w.Code)
				}
			}
		})
	}
}
