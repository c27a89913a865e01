// Package twiliotest holds the test helpers of the Twilio adapter: an
// emulator (internal/twilio/emulator) listening for the length of one test,
// and Stoplight Prism run on Twilio's OpenAPI description, as a mock or as
// a proxy that checks every request and response against it.
package twiliotest

import (
	"net/http/httptest"
	"testing"

	"github.com/textkit/customers/internal/twilio/emulator"
)

// Server is an Emulator listening on a loopback port for the length of one
// test.
type Server struct {
	*emulator.Emulator
	// URL is the base URL, e.g. http://127.0.0.1:41234, to use in place of
	// https://api.twilio.com.
	URL string
}

// NewServer starts an emulator for t and stops it when t ends.
func NewServer(t testing.TB, cfg emulator.Config) *Server {
	t.Helper()
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatalf("twiliotest: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &Server{Emulator: e, URL: srv.URL}
}
