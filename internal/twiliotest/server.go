package twiliotest

import (
	"net/http/httptest"
	"testing"
)

// Server is an Emulator listening on a loopback port for the length of one
// test.
type Server struct {
	*Emulator
	// URL is the base URL, e.g. http://127.0.0.1:41234, to use in place of
	// https://api.twilio.com.
	URL string
}

// NewServer starts an emulator for t and stops it when t ends.
func NewServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("twiliotest: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &Server{Emulator: e, URL: srv.URL}
}
