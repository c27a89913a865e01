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
	// Helpers are closures and vaultInit-prefixed so this file cannot
	// collide with names in the rest of package main.
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
	addr := fs.String("addr", firstNonEmpty(getenv("TEXTKIT_VAULT_ADDR"), getenv("VAULT_ADDR")),
		"Vault address (default $TEXTKIT_VAULT_ADDR, else $VAULT_ADDR)")
	rootToken := fs.String("root-token", firstNonEmpty(getenv("VAULT_TOKEN"), getenv("TEXTKIT_VAULT_ROOT_TOKEN")),
		"root token (default $VAULT_TOKEN, else $TEXTKIT_VAULT_ROOT_TOKEN)")
	envOut := fs.String("env-out", "", "write the token lines to this file (mode 0600) instead of stdout")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		// The flag package already said what is wrong; usage is one -h away.
		return fmt.Errorf("vault-init: %w (run `textkit vault-init -h` for usage)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("vault-init: unexpected arguments %q", fs.Args())
	}
	if *addr == "" {
		return errors.New("vault-init: no Vault address: pass -addr or set TEXTKIT_VAULT_ADDR")
	}
	if *rootToken == "" {
		return errors.New("vault-init: no root token: pass -root-token or set VAULT_TOKEN or TEXTKIT_VAULT_ROOT_TOKEN")
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	cfg := api.DefaultConfig()
	cfg.Address = *addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	root, err := api.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("vault-init: vault address %q: %w", *addr, err)
	}
	root.SetToken(*rootToken)

	// Check reachability first: "connection refused" deserves a hint, not
	// a classified error from the middle of Bootstrap.
	h, err := root.Sys().HealthWithContext(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("vault-init: cannot reach Vault at %s: %s — is it running? (scripts/up.sh starts it)", *addr, vaultInitTransportReason(err))
	case !h.Initialized:
		return fmt.Errorf("vault-init: Vault at %s is not initialized: run `vault operator init` first", *addr)
	case h.Sealed:
		return fmt.Errorf("vault-init: Vault at %s is sealed: unseal it (`vault operator unseal`) and retry", *addr)
	}

	tokens, err := vault.Bootstrap(ctx, root)
	switch {
	case errors.Is(err, vault.ErrForbidden):
		return fmt.Errorf("vault-init: Vault at %s refused the root token (check -root-token, VAULT_TOKEN or TEXTKIT_VAULT_ROOT_TOKEN): %w", *addr, err)
	case err != nil:
		return fmt.Errorf("vault-init: %w", err)
	}

	lines := fmt.Sprintf("TEXTKIT_VAULT_TOKEN_GATEWAY=%s\nTEXTKIT_VAULT_TOKEN_PROVISIONER=%s\nTEXTKIT_VAULT_TOKEN_RETENTION=%s\n",
		tokens.Gateway, tokens.Provisioner, tokens.Retention)
	if *envOut == "" {
		_, err := io.WriteString(stdout, lines)
		return err
	}
	if err := vaultInitWriteEnvFile(*envOut, lines); err != nil {
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
