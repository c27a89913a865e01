package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/service"
)

// apikey is `textkit apikey create|list|revoke`: operators manage the API
// keys the gateway accepts. Keys are stored as SHA-256 hashes; the full key
// is printed once, at creation. Changes take effect at once.
func apikey(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("apikey: want create, list or revoke (textkit apikey create -role partner -partner <id> -name <name>)")
	}
	verb, args := args[0], args[1:]
	fs := service.NewFlags("apikey "+verb, getenv)
	addr := fs.String("redis-addr", "127.0.0.1:6399", "Redis host:port")
	password := fs.String("redis-password", "", "Redis password")
	unsafe := fs.Bool("redis-allow-unsafe-persistence", false, "write even if Redis could lose acknowledged writes")
	role := fs.FlagSet.String("role", "partner", "create: partner or operator")
	partner := fs.FlagSet.String("partner", "", "create: the partner id (role partner)")
	name := fs.FlagSet.String("name", "", "create: a name to recognise the key by")
	quiet := fs.FlagSet.Bool("quiet", false, "create: print only the key")
	id := fs.FlagSet.String("id", "", "revoke: the key id (the part after tk_ and before the second _)")
	if err := fs.Parse(args, stdout); err != nil {
		return err
	}
	connect := func() (*redisstore.Store, func(), error) {
		rdb, err := redisstore.Connect(ctx, redisstore.Config{Addr: *addr, Password: *password, AllowUnsafePersistence: *unsafe})
		if err != nil {
			return nil, nil, fmt.Errorf("apikey: %w", err)
		}
		return redisstore.New(rdb), func() { rdb.Close() }, nil
	}
	switch verb {
	case "create":
		var r redisstore.Role
		switch *role {
		case "partner":
			r = redisstore.RolePartner
			if err := customer.ValidateID("partner", customer.NormalizeID(*partner)); err != nil {
				return fmt.Errorf("apikey create: -partner must be the partner's id (a UUID) for role partner")
			}
		case "operator":
			r = redisstore.RoleOperator
			if *partner != "" {
				return errors.New("apikey create: operators see every partner; drop -partner")
			}
		default:
			return fmt.Errorf("apikey create: -role must be partner or operator, not %q", *role)
		}
		if *name == "" {
			return errors.New("apikey create: -name is required (e.g. -name ci or -name acme-backend)")
		}
		store, done, err := connect()
		if err != nil {
			return err
		}
		defer done()
		pid := customer.NormalizeID(*partner)
		if r == redisstore.RolePartner {
			if p, err := store.Partner(ctx, pid); err != nil {
				return fmt.Errorf("apikey create: %w", err)
			} else if p == nil {
				return fmt.Errorf("apikey create: unknown partner %s (textkit seed, or the upsertPartner mutation, creates partners)", pid)
			}
		}
		k, full, err := store.CreateAPIKey(ctx, *name, r, pid, time.Now())
		if err != nil {
			return fmt.Errorf("apikey create: %w", err)
		}
		if *quiet {
			fmt.Fprintln(stdout, full)
			return nil
		}
		fmt.Fprintf(stdout, "created %s key %s (%s); it is shown only now:\n%s\n", k.Role, k.ID, k.Name, full)
		return nil
	case "list":
		store, done, err := connect()
		if err != nil {
			return err
		}
		defer done()
		keys, err := store.APIKeys(ctx)
		if err != nil {
			return fmt.Errorf("apikey list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tPARTNER\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if !k.RevokedAt.IsZero() {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.PartnerID, k.CreatedAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		if *id == "" {
			return errors.New("apikey revoke: -id is required (see textkit apikey list)")
		}
		store, done, err := connect()
		if err != nil {
			return err
		}
		defer done()
		if err := store.RevokeAPIKey(ctx, *id, time.Now()); errors.Is(err, redisstore.ErrInvalidAPIKey) {
			return fmt.Errorf("apikey revoke: no key with id %q", *id)
		} else if err != nil {
			return fmt.Errorf("apikey revoke: %w", err)
		}
		fmt.Fprintf(stdout, "revoked key %s; it stops working now\n", *id)
		return nil
	}
	return fmt.Errorf("apikey: unknown action %q; want create, list or revoke", verb)
}
