package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/natsbus"
)

// Scenario is one fault, injected once under load at a random moment.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Hold is how long the fault lasts; 0: the run's -hold.
	Hold time.Duration `json:"hold,omitempty"`
	// Via and Mix choose the load (default: GraphQL, lifecycle).
	Via string `json:"via,omitempty"`
	Mix string `json:"mix,omitempty"`
	// Local scenarios kill, stop or cut processes the runner started: not
	// against an external stack.
	Local bool `json:"local,omitempty"`
	// LongOnly scenarios do not run with -short.
	LongOnly bool `json:"longOnly,omitempty"`
	// Crash scenarios kill, stop or cut a process: after them every
	// partition must apply again within PartitionBound.
	Crash bool `json:"crash,omitempty"`
	// Needs is the dependency the fault takes out ("vault",
	// "twilio-emulator"): the commands that do not need it must not slow
	// down (UnaffectedBound).
	Needs string `json:"needs,omitempty"`
	// Spared is the partner whose commands must not slow down
	// (UnaffectedBound) while the fault, another partner's flood, lasts.
	Spared string `json:"spared,omitempty"`
	// Also is the mix of a companion GraphQL load, run beside the main
	// one for the whole scenario, into a ledger of its own.
	Also string `json:"also,omitempty"`
	// Republish publishes each command of the load (onto NATS) twice at
	// once and once more after its answer (load.Config.Republish).
	Republish bool `json:"republish,omitempty"`
	// Ending is how long ending the fault may take beyond a restart of
	// one of our services (a NATS node catching up, a Redis failover):
	// the load goes on that much longer, so that commands are sent after
	// the fault's end.
	Ending time.Duration `json:"ending,omitempty"`
	// inject starts the fault; the returned end stops it (restarts what
	// was killed, lets traffic through again) and returns once the
	// service it concerns is ready.
	inject func(ctx context.Context, s *Stack) (end func(ctx context.Context) error, err error)
}

// Scenarios lists every scenario, in the order they run.
func Scenarios() []Scenario {
	var out []Scenario
	for _, name := range append(append([]string(nil), ourServices...), dependencies...) {
		out = append(out, killScenario(name))
	}
	out = append(out, stopScenario())
	for _, dep := range []string{"nats", "redis", "vault", "twilio-emulator"} {
		out = append(out, cutScenario(dep))
	}
	out = append(out, Scenario{
		Name:        "vault-sealed",
		Description: "Vault sealed (every transit call refused), then unsealed",
		Local:       true, // unsealing needs the key, which only the local stack keeps where the runner reads it
		inject: func(ctx context.Context, s *Stack) (func(context.Context) error, error) {
			if err := s.vaultCall(ctx, http.MethodPut, "/v1/sys/seal", nil); err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { return s.waitReady(ctx, "vault", time.Minute) }, nil
		},
	})
	out = append(out, Scenario{
		Name: "nats-flood",
		Description: "while the GraphQL load runs, the partner floods commands straight onto NATS (the hot mix: many commands " +
			"at once to a few customers), checked from a second ledger",
		inject: func(ctx context.Context, s *Stack) (func(context.Context) error, error) {
			done := make(chan error, 1)
			go func() { done <- s.floodLoad(ctx) }()
			return func(context.Context) error { return <-done }, nil
		},
	})
	out = append(out, partnerFloodScenario())
	dup := killScenario("provisioner")
	out = append(out, Scenario{
		Name: "duplicate-publish",
		Description: "the partner publishes every command onto NATS twice at once (one Nats-Msg-Id) and again after its answer " +
			"(no Nats-Msg-Id: as past the de-duplication window), while the provisioner is killed -9 and restarted: each applied once, one outcome",
		Via: ledger.ViaNATS, Republish: true, Local: true, Crash: true, inject: dup.inject,
	})
	out = append(out,
		emulatorScenario("twilio-429", "Twilio answers 429 with Retry-After: 1 to the next 30 requests", `{"status":429,"retryAfter":1,"times":30}`),
		emulatorScenario("twilio-5xx", "Twilio answers 503 to the next 30 requests", `{"status":503,"times":30}`),
		emulatorScenario("twilio-latency", "Twilio takes 300 ms for each of the next 200 requests", `{"delay":300000000,"times":200}`),
		emulatorScenario("twilio-dropped", "Twilio drops the connection of the next 20 requests", `{"drop":true,"times":20}`),
		emulatorScenario("twilio-lost-response", "Twilio creates the next 10 sub-accounts but the responses are lost (500 after the change)",
			`{"op":"CreateAccount","status":500,"afterApply":true,"times":10}`),
	)
	for i := range out {
		out[i].Mix = mixOf[out[i].Name]
		out[i].Needs = needsOf[out[i].Name]
		if out[i].Mix == "terminate" && out[i].Needs == "vault" {
			// Terminations and registrations need no Vault: the
			// lifecycle's activations and contact info updates do.
			out[i].Also = "lifecycle"
		}
	}
	return out
}

// stopScenario stops the provisioner (SIGSTOP) for longer than its
// AckWait, then lets it go on (SIGCONT).
func stopScenario() Scenario {
	return Scenario{
		Name:        "stop-provisioner",
		Description: fmt.Sprintf("SIGSTOP the provisioner for longer than its AckWait (%s), then SIGCONT", natsbus.DefaultAckWait),
		Hold:        natsbus.DefaultAckWait + time.Second, Local: true, Crash: true,
		inject: func(_ context.Context, s *Stack) (func(context.Context) error, error) {
			p := s.procs["provisioner"]
			if err := p.signal(syscall.SIGSTOP); err != nil {
				return nil, err
			}
			return func(ctx context.Context) error {
				if err := p.signal(syscall.SIGCONT); err != nil {
					return err
				}
				return s.waitReady(ctx, "provisioner", time.Minute)
			}, nil
		},
	}
}

// mixOf is the load mix of the scenarios that need another than the
// lifecycle: key faults under terminations, account creation faults under
// registrations.
var mixOf = map[string]string{
	"kill-retention": "terminate", "kill-vault": "terminate", "cut-vault": "terminate", "vault-sealed": "terminate",
	"twilio-lost-response": "register", "twilio-dropped": "register",
}

// needsOf is the dependency each outage scenario takes out, when the load
// has commands that do not need it (the register mix has none for Twilio).
var needsOf = map[string]string{
	"kill-vault": "vault", "cut-vault": "vault", "vault-sealed": "vault",
	"kill-twilio-emulator": "twilio-emulator", "cut-twilio-emulator": "twilio-emulator",
	"twilio-429": "twilio-emulator", "twilio-5xx": "twilio-emulator", "twilio-latency": "twilio-emulator",
}

// killScenario kills name with SIGKILL and restarts it when the fault ends.
func killScenario(name string) Scenario {
	return Scenario{
		Name:        "kill-" + name,
		Description: "kill -9 " + name + ", restart it when the fault ends",
		Local:       true, Crash: true,
		inject: func(_ context.Context, s *Stack) (func(context.Context) error, error) {
			return s.killNode(name)
		},
	}
}

// cutScenario makes dep unreachable from every service (its proxies
// refuse and drop every connection), then reachable again.
func cutScenario(dep string) Scenario {
	return Scenario{
		Name:        "cut-" + dep,
		Description: dep + " unreachable from every service (proxies closed: connections dropped and refused), then reachable again",
		Local:       true, Crash: true,
		inject: func(_ context.Context, s *Stack) (func(context.Context) error, error) {
			var cut []link
			for _, l := range links {
				if l.dependency == dep {
					s.proxies[l.String()].Stop()
					cut = append(cut, l)
				}
			}
			return func(context.Context) error {
				var errs []error
				for _, l := range cut {
					errs = append(errs, s.proxies[l.String()].Start())
				}
				return errors.Join(errs...)
			}, nil
		},
	}
}

// emulatorScenario injects a fault into the Twilio emulator; it ends by
// itself once the affected requests are used up, so ending it only
// waits for the emulator.
func emulatorScenario(name, description, fault string) Scenario {
	return Scenario{
		Name: name, Description: description,
		inject: func(ctx context.Context, s *Stack) (func(context.Context) error, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ep.Emulator+"/_emulator/faults", strings.NewReader(fault))
			if err != nil {
				return nil, err
			}
			req.SetBasicAuth(s.secrets["TEXTKIT_TWILIO_ACCOUNT_SID"], s.secrets["TEXTKIT_TWILIO_AUTH_TOKEN"])
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, fmt.Errorf("inject emulator fault: %w", err)
			}
			_ = resp.Body.Close() // status only
			if resp.StatusCode != http.StatusCreated {
				return nil, fmt.Errorf("inject emulator fault: status %d", resp.StatusCode)
			}
			return func(ctx context.Context) error { return s.waitReady(ctx, "twilio-emulator", time.Minute) }, nil
		},
	}
}

// Select returns the scenarios named in names (all when empty), leaving
// out the long-only ones when short is set and the local ones when
// external is.
func Select(names []string, short, external bool) ([]Scenario, error) {
	all := Scenarios()
	if len(names) == 0 {
		var out []Scenario
		for _, sc := range all {
			if (!short || !sc.LongOnly) && (!external || !sc.Local) {
				out = append(out, sc)
			}
		}
		return out, nil
	}
	out, err := named(all, names, "scenario %q (chaos -list names them)")
	if err != nil {
		return nil, err
	}
	for _, sc := range out {
		if external && sc.Local {
			return nil, fmt.Errorf("scenario %q kills or cuts processes: not with -external", sc.Name)
		}
	}
	return out, nil
}

// named picks the scenarios of all named in names, in the order of names;
// unknown, with the name, says what an unknown name is.
func named(all []Scenario, names []string, unknown string) ([]Scenario, error) {
	var out []Scenario
	for _, n := range names {
		found := false
		for _, sc := range all {
			if sc.Name == n {
				out, found = append(out, sc), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown "+unknown, n)
		}
	}
	return out, nil
}
