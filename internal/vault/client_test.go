package vault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/vault"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     vault.Config
		wantErr string // "" means valid
	}{
		{"minimal", vault.Config{Addr: "http://127.0.0.1:8200", Token: "t"}, ""},
		{"https and options", vault.Config{Addr: "https://vault.internal:8200", Token: "t", Mount: "transit-eu", Timeout: time.Second}, ""},
		{"no addr", vault.Config{Token: "t"}, "addr is required"},
		{"addr without scheme", vault.Config{Addr: "127.0.0.1:8200", Token: "t"}, "must be an http(s) URL"},
		{"no token", vault.Config{Addr: "http://127.0.0.1:8200"}, "token is required"},
		{"mount with slashes", vault.Config{Addr: "http://127.0.0.1:8200", Token: "t", Mount: "/transit/"}, "mount"},
		{"negative timeout", vault.Config{Addr: "http://127.0.0.1:8200", Token: "t", Timeout: -time.Second}, "timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, c.wantErr)
			}
			cl, err := vault.New(c.cfg)
			if got, want := err == nil, c.wantErr == ""; got != want {
				t.Errorf("New error = %v, want error: %v", err, !want)
			}
			if err == nil && cl == nil {
				t.Error("New returned nil, nil")
			}
		})
	}
}
