package twiliotest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/textkit/customers/internal/testsvc"
)

// SpecFile is the name of Twilio's OpenAPI description of the 2010-04-01 API.
const SpecFile = "twilio_api_v2010.json"

// SpecPath returns the path of Twilio's OpenAPI description:
// $TEXTKIT_TWILIO_SPEC, else shared/twilio/twilio_api_v2010.json in the
// nearest directory above the test's that has it (shared/ sits beside the
// checkout). A missing description stops the test through testsvc.Missing.
func SpecPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TEXTKIT_TWILIO_SPEC"); p != "" {
		if _, err := os.Stat(p); err != nil {
			testsvc.Missing(t, "Twilio's OpenAPI description", "TEXTKIT_TWILIO_SPEC: "+err.Error())
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "twilio", SpecFile)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	testsvc.Missing(t, "Twilio's OpenAPI description ("+SpecFile+")",
		"keep shared/twilio/ beside the checkout or set TEXTKIT_TWILIO_SPEC")
	return ""
}

// Prism is a Stoplight Prism server run for one test.
type Prism struct {
	// URL is its base URL, to use in place of https://api.twilio.com.
	URL string
	out *testsvc.SyncBuffer
}

// Output returns what Prism has logged so far.
func (p *Prism) Output() string { return p.out.String() }

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
	bin := testsvc.Binary(t, "prism")
	port := testsvc.FreePort(t)
	args := append([]string{mode, "--host", "127.0.0.1", "--port", strconv.Itoa(port), spec}, rest...)
	cmd := exec.Command(bin, args...)
	out := &testsvc.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, so cleanup ends node and all it started
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prism: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited: //nolint:errcheck // prism exits with the signal's status: expected
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited //nolint:errcheck // killed: its exit status is expected
		}
		if t.Failed() {
			t.Logf("prism %s output:\n%s", mode, tail(out.String(), 60))
		}
	})

	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(90 * time.Second) // the description is 1.9 MB; a few seconds here
	for {
		select {
		case err := <-exited:
			t.Fatalf("prism %s exited before listening (%v):\n%s", mode, err, tail(out.String(), 40))
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			// a probe connection: nothing to lose
			_ = conn.Close()
			if strings.Contains(out.String(), "Prism is listening") {
				return &Prism{URL: "http://" + addr, out: out}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prism %s not listening on %s after 90s:\n%s", mode, addr, tail(out.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
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
