// Command twilio-emulator serves the Twilio Accounts API emulator
// (internal/twilio/emulator) on a local port, for the dev stack and for tests
// that run the services as separate processes. The real Twilio API is out
// of reach here; the emulator keeps sub-accounts the way Twilio does and
// can be told to misbehave (see docs/twilio.md).
//
//	twilio-emulator -twilio-emulator-addr 127.0.0.1:8790 -twilio-emulator-state .data/twilio/state.json
//
// The main account's credentials are the ones the provisioner uses
// (TEXTKIT_TWILIO_ACCOUNT_SID, TEXTKIT_TWILIO_AUTH_TOKEN); they are made up
// and printed when unset.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/twilio/emulator"
)

func main() { service.Main("twilio-emulator", run) }

func run(ctx context.Context, args []string, getenv func(string) string, out, stderr io.Writer) error {
	fs := service.NewFlags("twilio-emulator", getenv)
	listen := fs.String("twilio-emulator-addr", "127.0.0.1:8790", "address to listen on")
	state := fs.String("twilio-emulator-state", "", "file that keeps the accounts across restarts (empty: memory only)")
	sid := fs.String("twilio-account-sid", "", "main account SID (AC + 32 hex); generated when empty")
	token := fs.String("twilio-auth-token", "", "main account auth token; generated when empty")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args, out); err != nil {
		return err
	}
	log, err := service.NewLogger(stderr, *logLevel, "twilio-emulator")
	if err != nil {
		return err
	}
	emu, err := emulator.New(emulator.Config{AccountSID: *sid, AuthToken: *token, StateFile: *state})
	if err != nil {
		return err
	}
	l, err := service.Listen(*listen, "TEXTKIT_TWILIO_EMULATOR_ADDR")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// a failed write means the client has gone: nothing to report it to
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.Handle("/", emu)
	// A fault may hold a request (Delay) to play a slow Twilio: the write
	// timeout leaves room for that.
	srv := service.Server(mux, service.Timeouts{ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 5 * time.Minute, Idle: 2 * time.Minute})
	// startup banner on stdout: a failed write there has nowhere to go
	_, _ = fmt.Fprintf(out, "twilio-emulator listening on http://%s (account %s)\n", l.Addr(), emu.AccountSID())
	if *token == "" {
		_, _ = fmt.Fprintf(out, "TEXTKIT_TWILIO_ACCOUNT_SID=%s TEXTKIT_TWILIO_AUTH_TOKEN=%s\n", emu.AccountSID(), emu.AuthToken())
	}
	log.Info("twilio emulator listening", "addr", l.Addr().String(), "state", *state)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
