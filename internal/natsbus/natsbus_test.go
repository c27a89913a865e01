package natsbus_test

import (
	"strings"
	"testing"

	"github.com/textkit/customers/internal/natsbus"
)

// A seed list is checked entry by entry; a bad entry is named.
func TestConfigValidateSeedList(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"nats://127.0.0.1:4222", ""},
		{"tls://nats.example:4222", ""},
		{"nats://127.0.0.1:4222,nats://127.0.0.1:4223, nats://127.0.0.1:4224", ""},
		{"", "nats url is empty"},
		{" , ", "entry 1: nats url is empty"},
		{"127.0.0.1:4222", `nats url "127.0.0.1:4222" must start with nats://`},
		{"nats://127.0.0.1:4222,", "entry 2: nats url is empty"},
		{"nats://127.0.0.1:4222,http://127.0.0.1:4223", `entry 2: nats url "http://127.0.0.1:4223" must start with nats://`},
		{"nats://:4222", "has no host"},
		{"nats://127.0.0.1:99999", `port "99999" is not a number from 1 to 65535`},
		{"nats://127.0.0.1:4222/x", `has a path "/x"`},
	} {
		err := natsbus.Config{URL: tc.url}.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one containing %q", tc.url, err, tc.want)
		}
	}
}

// Only 1 and 3 replicas are accepted.
func TestCheckReplicas(t *testing.T) {
	for n, ok := range map[int]bool{1: true, 3: true, 0: false, 2: false, 5: false, -1: false} {
		if err := natsbus.CheckReplicas(n); (err == nil) != ok {
			t.Errorf("CheckReplicas(%d) = %v", n, err)
		}
	}
}
