package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/vault"
)

// vaultInit is `textkit vault-init`: it prepares Vault for TextKit
// (transit engine, disable_upsert, the three service policies) and prints
// one token per service as shell-sourceable lines
//
//	TEXTKIT_VAULT_TOKEN_GATEWAY=...
//	TEXTKIT_VAULT_TOKEN_PROVISIONER=...
//	TEXTKIT_VAULT_TOKEN_RETENTION=...
//
// to stdout or, with -env-out, to a file only its owner can read. It is
// safe to re-run; each run issues fresh tokens (see vault.Bootstrap).
func vaultInit(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	// Helpers are vaultInit-prefixed so this file cannot collide with
	// names in the rest of package main.
	o, help, err := vaultInitParseFlags(args, getenv, stdout)
	if help || err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	root, err := vaultInitConnectAny(ctx, o.addr, o.rootToken)
	if err != nil {
		return err
	}

	tokens, err := vault.Bootstrap(ctx, root)
	switch {
	case errors.Is(err, vault.ErrForbidden):
		return fmt.Errorf("vault-init: Vault at %s refused the root token (check -root-token, VAULT_TOKEN or TEXTKIT_VAULT_ROOT_TOKEN): %w", o.addr, err)
	case err != nil:
		return fmt.Errorf("vault-init: %w", err)
	}
	return vaultInitWriteTokens(tokens, o.envOut, stdout)
}

// vaultInitOptions are the checked flags of `textkit vault-init`.
type vaultInitOptions struct {
	addr      string
	rootToken string
	envOut    string
	timeout   time.Duration
}

// vaultInitParseFlags parses and checks the flags. help reports that -h
// printed the usage to stdout: nothing else is to be done.
func vaultInitParseFlags(args []string, getenv func(string) string, stdout io.Writer) (o vaultInitOptions, help bool, err error) {
	firstNonEmpty := func(ss ...string) string {
		for _, s := range ss {
			if s != "" {
				return s
			}
		}
		return ""
	}
	fs := flag.NewFlagSet("vault-init", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.addr, "addr", firstNonEmpty(getenv("TEXTKIT_VAULT_ADDR"), getenv("VAULT_ADDR")),
		"Vault address (default $TEXTKIT_VAULT_ADDR, else $VAULT_ADDR)")
	fs.StringVar(&o.rootToken, "root-token", firstNonEmpty(getenv("VAULT_TOKEN"), getenv("TEXTKIT_VAULT_ROOT_TOKEN")),
		"root token (default $VAULT_TOKEN, else $TEXTKIT_VAULT_ROOT_TOKEN)")
	fs.StringVar(&o.envOut, "env-out", "", "write the token lines to this file (mode 0600) instead of stdout")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return o, true, nil
		}
		// The flag package already said what is wrong; usage is one -h away.
		return o, false, fmt.Errorf("vault-init: %w (run `textkit vault-init -h` for usage)", err)
	}
	if fs.NArg() > 0 {
		return o, false, fmt.Errorf("vault-init: unexpected arguments %q", fs.Args())
	}
	if o.addr == "" {
		return o, false, errors.New("vault-init: no Vault address: pass -addr or set TEXTKIT_VAULT_ADDR")
	}
	if o.rootToken == "" {
		return o, false, errors.New("vault-init: no root token: pass -root-token or set VAULT_TOKEN or TEXTKIT_VAULT_ROOT_TOKEN")
	}
	return o, false, nil
}

// vaultInitConnectAny is vaultInitConnect for TEXTKIT_VAULT_ADDR's list
// of a Vault cluster's nodes: the first node that is initialized and
// unsealed will do (a standby forwards to the active node).
func vaultInitConnectAny(ctx context.Context, list, rootToken string) (*api.Client, error) {
	addrs, err := vault.ParseAddrs(list)
	if err != nil {
		return nil, fmt.Errorf("vault-init: %w", err)
	}
	var errs []error
	for _, addr := range addrs {
		root, err := vaultInitConnect(ctx, addr, rootToken)
		if err == nil {
			return root, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// vaultInitConnect returns a client of the Vault at addr with the root
// token, once Vault answered that it is initialized and unsealed.
func vaultInitConnect(ctx context.Context, addr, rootToken string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	root, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault-init: vault address %q: %w", addr, err)
	}
	root.SetToken(rootToken)

	// Check reachability first: "connection refused" deserves a hint, not
	// a classified error from the middle of Bootstrap.
	h, err := root.Sys().HealthWithContext(ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("vault-init: cannot reach Vault at %s: %s — is it running? (scripts/up.sh starts it)", addr, vaultInitTransportReason(err))
	case !h.Initialized:
		return nil, fmt.Errorf("vault-init: Vault at %s is not initialized: run `vault operator init` first", addr)
	case h.Sealed:
		return nil, fmt.Errorf("vault-init: Vault at %s is sealed: unseal it (`vault operator unseal`) and retry", addr)
	}
	return root, nil
}

// vaultInitWriteTokens writes the token lines to stdout or, with envOut,
// to that file.
func vaultInitWriteTokens(tokens vault.ServiceTokens, envOut string, stdout io.Writer) error {
	lines := fmt.Sprintf("TEXTKIT_VAULT_TOKEN_GATEWAY=%s\nTEXTKIT_VAULT_TOKEN_PROVISIONER=%s\nTEXTKIT_VAULT_TOKEN_RETENTION=%s\n",
		tokens.Gateway, tokens.Provisioner, tokens.Retention)
	if envOut == "" {
		_, err := io.WriteString(stdout, lines)
		return err
	}
	if err := vaultInitWriteEnvFile(envOut, lines); err != nil {
		return fmt.Errorf("vault-init: %w", err)
	}
	return nil
}

// vaultInitTransportReason shortens a failed request's error to its cause
// ("connection refused"), without the request URL.
func vaultInitTransportReason(err error) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "connection refused"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// vaultInitWriteEnvFile writes data to path readable by its owner only, also
// when path already exists with wider permissions (os.WriteFile would keep
// those).
func vaultInitWriteEnvFile(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		// the write's error is the one to report; the file is incomplete either way
		_ = f.Close()
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		// the write's error is the one to report; the file is incomplete either way
		_ = f.Close()
		return err
	}
	return f.Close()
}
