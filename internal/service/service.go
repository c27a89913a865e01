// Package service is the process plumbing the three binaries share:
// configuration from flags and TEXTKIT_* environment variables, JSON
// logging, the operations HTTP endpoints (/healthz, /readyz, /metrics) and
// graceful shutdown.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/textkit/customers/internal/telemetry"
)

// Flags is a flag set whose flags default to environment variables, so a
// setting can come from either; a flag on the command line wins.
type Flags struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
	// Vars lists the environment variables the flags read, for docs and tests.
	Vars []string
}

// NewFlags returns an empty set for the program name.
func NewFlags(name string, getenv func(string) string) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Flags{FlagSet: fs, getenv: getenv}
}

// EnvName is the variable a flag reads: TEXTKIT_ and the flag's name
// upper-cased with '-' as '_'.
func EnvName(flagName string) string {
	return "TEXTKIT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *Flags) env(name string) (string, bool) {
	v := f.getenv(EnvName(name))
	f.Vars = append(f.Vars, EnvName(name))
	return v, v != ""
}

// String defines a string flag.
func (f *Flags) String(name, def, usage string) *string {
	if v, ok := f.env(name); ok {
		def = v
	}
	return f.FlagSet.String(name, def, usage+" ("+EnvName(name)+")")
}

// Bool defines a boolean flag.
func (f *Flags) Bool(name string, def bool, usage string) *bool {
	if v, ok := f.env(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q is not a boolean (use true or false)", EnvName(name), v))
		}
		def = b
	}
	return f.FlagSet.Bool(name, def, usage+" ("+EnvName(name)+")")
}

// Duration defines a duration flag.
func (f *Flags) Duration(name string, def time.Duration, usage string) *time.Duration {
	if v, ok := f.env(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			f.errs = append(f.errs, fmt.Errorf("%s=%q is not a duration (e.g. 10s, 2m)", EnvName(name), v))
		}
		def = d
	}
	return f.FlagSet.Duration(name, def, usage+" ("+EnvName(name)+")")
}

// Int defines an integer flag.
func (f *Flags) Int(name string, def int, usage string) *int {
	if v, ok := f.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q is not an integer", EnvName(name), v))
		}
		def = n
	}
	return f.FlagSet.Int(name, def, usage+" ("+EnvName(name)+")")
}

// ErrHelp is returned by Parse for -h/-help; the usage was written.
var ErrHelp = flag.ErrHelp

// Parse parses args and reports the first malformed environment variable
// or flag. For -h it writes the usage to w and returns ErrHelp.
func (f *Flags) Parse(args []string, w io.Writer) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.SetOutput(w)
			// usage text for the terminal: a failed write there has nowhere to go
			_, _ = fmt.Fprintf(w, "Usage of %s:\n", f.Name())
			f.PrintDefaults()
			return ErrHelp
		}
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", f.Arg(0))
	}
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	return nil
}

// NewLogger returns a JSON logger at level ("debug", "info", "warn",
// "error"); a line logged with a span in its context carries the
// trace_id and span_id.
func NewLogger(w io.Writer, level, service string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	h := telemetry.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
	return slog.New(h).With("service", service), nil
}

// Check is one readiness check: nil means the dependency is usable.
type Check func(ctx context.Context) error

// Ops serves /healthz (the process is alive), /readyz (every check passes)
// and /metrics (Prometheus), plus whatever else is added to Mux.
type Ops struct {
	Mux    *http.ServeMux
	log    *slog.Logger
	mu     sync.Mutex
	checks map[string]Check
}

// NewOps returns the operations endpoints; a failed readiness check's
// error goes to log, never into the /readyz answer.
func NewOps(log *slog.Logger) *Ops {
	o := &Ops{Mux: http.NewServeMux(), log: log, checks: map[string]Check{}}
	o.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	o.Mux.HandleFunc("GET /readyz", o.ready)
	// Each scrape runs the readiness checks first, so textkit_ready is
	// as fresh as the scrape.
	metrics := promhttp.Handler()
	o.Mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		o.Ready(r.Context())
		metrics.ServeHTTP(w, r)
	})
	addPprof(o.Mux)
	return o
}

// addPprof serves Go's runtime profiles (net/http/pprof) under
// /debug/pprof/ on the ops mux only, never on an API port: CPU
// (/debug/pprof/profile?seconds=N, N below the ops write timeout of 30 s),
// heap, goroutines, mutex and block profiles, and execution traces
// (/debug/pprof/trace?seconds=N). docs/benchmarks.md uses them.
func addPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// AddCheck registers a readiness check under name.
func (o *Ops) AddCheck(name string, c Check) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks[name] = c
}

// Ready runs every check and returns each one's result by name: "ok" or
// "failed". The error itself is logged, not returned: /readyz is often
// reachable by more people than the logs, and a dependency's error text
// can name hosts, users and versions.
func (o *Ops) Ready(ctx context.Context) map[string]string {
	o.mu.Lock()
	names := make([]string, 0, len(o.checks))
	for n := range o.checks {
		names = append(names, n)
	}
	o.mu.Unlock()
	sort.Strings(names)
	out := map[string]string{}
	for _, n := range names {
		o.mu.Lock()
		c := o.checks[n]
		o.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := c(cctx); err != nil {
			o.log.WarnContext(ctx, "readiness check failed", "check", n, "error", err.Error())
			out[n] = "failed"
			readiness.WithLabelValues(n).Set(0)
		} else {
			out[n] = "ok"
			readiness.WithLabelValues(n).Set(1)
		}
		cancel()
	}
	return out
}

func (o *Ops) ready(w http.ResponseWriter, r *http.Request) {
	res := o.Ready(r.Context())
	status := http.StatusOK
	for _, v := range res {
		if v != "ok" {
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Listen opens addr, refusing anything but a host:port; variable names
// the setting it came from, for the error.
func Listen(addr, variable string) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("http address %q must be host:port (e.g. 127.0.0.1:8080): %v", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (in use? set %s): %w", addr, variable, err)
	}
	return l, nil
}

// Timeouts bound each phase of an HTTP exchange, so a slow or idle
// client cannot hold a connection (and its goroutine) for ever.
type Timeouts struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // from the end of the headers to the end of the response
	Idle       time.Duration // a kept-alive connection between requests
}

// OpsTimeouts suit the operations endpoints (and other small, quick
// APIs): readiness runs each check for at most 2s.
var OpsTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second, Idle: 60 * time.Second}

// Server returns an http.Server for h with the timeouts t.
func Server(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
}

// Serve serves h on l, with the timeouts t, until ctx ends, then shuts
// down gracefully. serves names what it serves in the log ("ops",
// "graphql").
func Serve(ctx context.Context, l net.Listener, h http.Handler, t Timeouts, log *slog.Logger, serves string) error {
	srv := Server(h, t)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("http listening", "addr", l.Addr().String(), "serves", serves)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// SignalContext is ctx cancelled on SIGINT or SIGTERM.
func SignalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// Main runs a program's run function and turns its error into one clear
// line on stderr and exit status 1 (2 for usage errors).
func Main(name string, run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) {
	ctx, cancel := SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	cancel()
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return
	case errors.Is(err, context.Canceled):
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}
