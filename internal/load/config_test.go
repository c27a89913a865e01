package load_test

import (
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/load"
)

func validConfig() load.Config {
	return load.Config{
		Target: ledger.ViaGraphQL, Mix: load.MixLifecycle, Model: load.Closed, Workers: 2, Duration: time.Second,
		GraphQLURL: "http://127.0.0.1:8080/graphql", APIKey: "tk_x_y", NATSURL: "nats://127.0.0.1:4222",
		PartnerID: "25521a6f-b8d1-414b-8575-545430f076fd", IndustryID: "e4c81004-1a4c-477f-97e3-b67022e9a351",
		MutationTimeout: 10 * time.Second, LedgerPath: "ledger.jsonl",
	}
}

func TestValidate(t *testing.T) {
	if err := (&load.Config{}).Validate(); err == nil {
		t.Fatal("the zero config is valid")
	}
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	ceiling := load.CeilingConfig{Duration: time.Second, Clients: 8, MessageBytes: 400, NATSURL: "nats://127.0.0.1:4222",
		NATSUser: "provisioner", NATSPassword: "pw", Stream: load.DefaultCeilingStream, Subject: load.DefaultCeilingSubject}
	for _, tc := range []struct {
		name   string
		change func(*load.Config)
		want   string
	}{
		{"target", func(c *load.Config) { c.Target = "http" }, `target "http"`},
		{"mix", func(c *load.Config) { c.Mix = "steady" }, `mix "steady"`},
		{"model", func(c *load.Config) { c.Model = "poisson" }, `model "poisson"`},
		{"open without rate", func(c *load.Config) { c.Model = load.Open }, "rate above 0"},
		{"workers", func(c *load.Config) { c.Workers = 0 }, "workers 0"},
		{"duration", func(c *load.Config) { c.Duration = 0 }, "duration 0s"},
		{"customers", func(c *load.Config) { c.Customers = -1 }, "customers -1"},
		{"republish over graphql", func(c *load.Config) { c.Republish = true }, "republish publishes onto NATS"},
		{"url", func(c *load.Config) { c.GraphQLURL = "127.0.0.1:8080" }, "graphql url"},
		{"api key", func(c *load.Config) { c.APIKey = "" }, "API key"},
		{"nats password", func(c *load.Config) { c.Target = ledger.ViaNATS }, "NATS password"},
		{"partner", func(c *load.Config) { c.PartnerID = "acme" }, `partner id "acme"`},
		{"ledger", func(c *load.Config) { c.LedgerPath = "" }, "ledger path"},
		{"timeout", func(c *load.Config) { c.MutationTimeout = 0 }, "mutation timeout"},
		{"progress", func(c *load.Config) { c.Progress = &strings.Builder{} }, "progress interval"},
		{"ceiling mix without ceiling", func(c *load.Config) { c.Mix = load.MixCeiling }, "ceiling duration"},
		{"ceiling clients", func(c *load.Config) { c.Ceiling = ceiling; c.Ceiling.Clients = 0 }, "ceiling clients 0"},
		{"ceiling user", func(c *load.Config) { c.Ceiling = ceiling; c.Ceiling.NATSPassword = "" }, "may create a stream"},
		{"ceiling subject", func(c *load.Config) { c.Ceiling = ceiling; c.Ceiling.Subject = "a.>" }, "ceiling subject"},
		{"ceiling size", func(c *load.Config) { c.Ceiling = ceiling; c.Ceiling.MessageBytes = 0 }, "message size 0"},
	} {
		c := validConfig()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	c = validConfig()
	c.Mix, c.Ceiling, c.APIKey = load.MixCeiling, ceiling, ""
	if err := c.Validate(); err != nil {
		t.Errorf("the ceiling mix needs no target settings: %v", err)
	}
}
