package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/service"
)

// seedFile is the format of deploy/seed.json.
type seedFile struct {
	Comment    string                `json:"_comment,omitempty"`
	Partners   []redisstore.Partner  `json:"partners"`
	Industries []redisstore.Industry `json:"industries"`
}

// seed is `textkit seed -file deploy/seed.json`: it writes the partners
// and industries of the file into Redis (creating or renaming; it never
// deletes). Safe to re-run.
func seed(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := service.NewFlags("seed", getenv)
	file := fs.FlagSet.String("file", "deploy/seed.json", "JSON file with partners and industries")
	addr := fs.String("redis-addr", "127.0.0.1:6399", "Redis host:port, or a Redis Cluster's seed addresses host:port,host:port,...")
	password := fs.String("redis-password", "", "Redis password")
	unsafe := fs.Bool("redis-allow-unsafe-persistence", false, "write even if Redis could lose acknowledged writes")
	if err := fs.Parse(args, stdout); err != nil {
		return err
	}
	raw, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var sf seedFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return fmt.Errorf("seed: %s is not a seed file: %w", *file, err)
	}
	for _, p := range sf.Partners {
		if err := customer.ValidateID("partners[].id", p.ID); err != nil || p.Name == "" {
			return fmt.Errorf("seed: %s: partner %q needs a lowercase UUID id and a name", *file, p.ID)
		}
	}
	for _, i := range sf.Industries {
		if err := customer.ValidateID("industries[].id", i.ID); err != nil || i.Name == "" {
			return fmt.Errorf("seed: %s: industry %q needs a lowercase UUID id and a name", *file, i.ID)
		}
	}
	rdb, err := redisstore.Connect(ctx, redisstore.Config{Addr: *addr, Password: *password, AllowUnsafePersistence: *unsafe})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// everything is written by then (or the error returned): a failed close loses nothing
	defer func() { _ = rdb.Close() }()
	store := redisstore.New(rdb)
	for _, p := range sf.Partners {
		if err := store.PutPartner(ctx, p); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	for _, i := range sf.Industries {
		if err := store.PutIndustry(ctx, i); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	// the seed is done; a failed write of this summary has nowhere to go
	_, _ = fmt.Fprintf(stdout, "seeded %d partners and %d industries from %s\n", len(sf.Partners), len(sf.Industries), *file)
	return nil
}
