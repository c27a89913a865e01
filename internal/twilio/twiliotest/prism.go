package twiliotest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/testenv"
)

// SpecFile is the name of Twilio's OpenAPI description of the 2010-04-01 API.
const SpecFile = "twilio_api_v2010.json"

// SpecPath returns the path of Twilio's OpenAPI description:
// $TEXTKIT_TWILIO_SPEC, else shared/twilio/twilio_api_v2010.json in the
// nearest directory above the test's that has it (shared/ sits beside the
// checkout). A missing description stops the test through testenv.Missing.
func SpecPath(t testing.TB) string {
	t.Helper()
	return testenv.SharedFile(t, "TEXTKIT_TWILIO_SPEC", "twilio/"+SpecFile, "Twilio's OpenAPI description")
}

// Prism is a Stoplight Prism server run for one test.
type Prism struct {
	// URL is its base URL, to use in place of https://api.twilio.com.
	URL  string
	proc *testenv.Process
}

// Output returns what Prism has logged so far.
func (p *Prism) Output() string { return p.proc.Output() }

// StartPrismMock runs `prism mock` on spec: static answers from the
// description's examples, and 401 or 422 for requests that break it.
func StartPrismMock(t testing.TB, spec string) *Prism {
	t.Helper()
	return startPrism(t, "mock", spec)
}

// StartPrismProxy runs `prism proxy` on spec in front of upstream: requests
// and responses pass through, and every breach of the description, either
// way, is reported in the response's sl-violations header (see Violations).
func StartPrismProxy(t testing.TB, spec, upstream string) *Prism {
	t.Helper()
	return startPrism(t, "proxy", spec, upstream)
}

func startPrism(t testing.TB, mode, spec string, rest ...string) *Prism {
	t.Helper()
	bin := testenv.Binary(t, "prism")
	port := testenv.FreePort(t)
	args := append([]string{mode, "--host", "127.0.0.1", "--port", strconv.Itoa(port), spec}, rest...)
	// its own group, stopped as one, so cleanup ends node and all it started
	p := testenv.StartCommand(t, exec.Command(bin, args...), testenv.LaunchOptions{Group: true})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// the description is 1.9 MB; a few seconds here
	err := testenv.Poll(90*time.Second, func() error {
		if exited, err := p.Exited(); exited {
			return testenv.Abort(fmt.Errorf("prism %s exited before listening (%v)", mode, err))
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return fmt.Errorf("prism %s not listening on %s: %w", mode, addr, err)
		}
		// a probe connection: nothing to lose
		_ = conn.Close()
		if !strings.Contains(p.Output(), "Prism is listening") {
			return fmt.Errorf("prism %s has not said it is listening on %s", mode, addr)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v:\n%s", err, tail(p.Output(), 40))
	}
	return &Prism{URL: "http://" + addr, proc: p}
}

// Violation is one breach of the description that Prism found.
type Violation struct {
	// Location is where: "request" or "response", then e.g. "body",
	// "first_page_uri".
	Location []string `json:"location"`
	// Severity is "Error", "Warning", "Information" or "Hint".
	Severity string `json:"severity"`
	// Code is the failed JSON Schema keyword ("format", "enum", …), or an
	// HTTP status for security checks.
	Code    any    `json:"code"`
	Message string `json:"message"`
}

// Where returns the location joined with dots, e.g. response.body.uri.
func (v Violation) Where() string { return strings.Join(v.Location, ".") }

// Violations reads a response's sl-violations header. Prism cuts a long
// list short ("Too many violations! [..."): that comes back as one Error
// violation at "response" carrying the start of the list.
func Violations(h http.Header) ([]Violation, error) {
	raw := h.Get("sl-violations")
	if raw == "" {
		return nil, nil
	}
	if strings.HasPrefix(raw, "Too many violations!") {
		return []Violation{{Location: []string{"response"}, Severity: "Error", Message: tail(raw[:min(len(raw), 600)], 1)}}, nil
	}
	var vs []Violation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		return nil, fmt.Errorf("sl-violations %q: %w", raw, err)
	}
	return vs, nil
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
