// Command twilio-emulator serves the Twilio Accounts API emulator
// (internal/twiliotest) on a local port, for the dev stack and for tests
// that run the services as separate processes.
//
//	go run ./tools/twilio-emulator -listen 127.0.0.1:8290 -state .data/twilio.json
//
// The main account's credentials come from TWILIO_ACCOUNT_SID and
// TWILIO_AUTH_TOKEN, the same variables the services read, and are made up
// (and printed) when unset. Point the services' Twilio base URL at the
// address it prints.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/textkit/customers/internal/twiliotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "twilio-emulator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("twilio-emulator", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8290", "address to listen on")
	state := fs.String("state", "", "file that keeps the accounts across restarts (none: memory only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	emu, err := twiliotest.New(twiliotest.Config{
		AccountSID: getenv("TWILIO_ACCOUNT_SID"),
		AuthToken:  getenv("TWILIO_AUTH_TOKEN"),
		StateFile:  *state,
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "twilio-emulator listening on http://%s (account %s)\n", l.Addr(), emu.AccountSID())
	if getenv("TWILIO_AUTH_TOKEN") == "" {
		fmt.Fprintf(out, "TWILIO_ACCOUNT_SID=%s TWILIO_AUTH_TOKEN=%s\n", emu.AccountSID(), emu.AuthToken())
	}
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
