// Command textkit is the operators' command line: it prepares Vault
// (vault-init), loads reference data (seed), manages partner API keys,
// drives load against the stack (load) and has the on-call engineer's
// tools (dlq, command show, customer show, keys due).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/textkit/customers/internal/service"
)

type subcommand struct {
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error
	summary string
}

var subcommands = map[string]subcommand{
	"vault-init": {vaultInit, "enable transit, write the service policies, print one token per service"},
	"seed":       {seed, "load partners and industries from a JSON file into Redis"},
	"apikey":     {apikey, "create, list or revoke API keys (create -role partner -partner ID -name N)"},
	"load":       {loadCmd, "drive load through GraphQL or NATS; write a ledger and a report (docs/load.md)"},
	"dlq":        {dlqCmd, "dead letters: list, show <seq>, replay <seq>, purge <seq>...|-all"},
	"command":    {commandCmd, "show <id>: a command's outcome, or that it is pending"},
	"customer":   {customerCmd, "show <id|space>: a customer, its key and its history"},
	"keys":       {keysCmd, "due: the key destruction schedule"},
}

// main runs a subcommand and exits 0 on success, 1 on an error, 2 on a
// usage error and 3 when what was asked for does not exist.
func main() {
	ctx, cancel := service.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	cancel()
	code := exitCode(err)
	if code != 0 {
		fmt.Fprintf(os.Stderr, "textkit: %v\n", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return usagef("no subcommand given")
		}
		return nil
	}
	sc, ok := subcommands[args[0]]
	if !ok {
		usage(stderr)
		return usagef("unknown subcommand %q", args[0])
	}
	return sc.run(ctx, args[1:], getenv, stdout)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: textkit <subcommand> [flags]\n\nsubcommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", n, subcommands[n].summary)
	}
	b.WriteString("\nRun `textkit <subcommand> -h` for its flags.\n")
	// usage text for the terminal: a failed write there has nowhere to go
	_, _ = io.WriteString(w, b.String())
}
