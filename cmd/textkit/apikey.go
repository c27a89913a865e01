package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/textkit/customers/internal/access"
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
	o, err := parseAPIKeyFlags(verb, args, getenv, stdout)
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		return apikeyCreate(ctx, o, stdout)
	case "list":
		return apikeyList(ctx, o, stdout)
	case "revoke":
		return apikeyRevoke(ctx, o, stdout)
	}
	return fmt.Errorf("apikey: unknown action %q; want create, list or revoke", verb)
}

// apikeyOptions are the parsed flags of `textkit apikey`. Every action
// accepts all of them; each uses its own.
type apikeyOptions struct {
	redis   redisstore.Config
	role    string // create
	partner string // create
	name    string // create
	quiet   bool   // create
	id      string // revoke
}

// parseAPIKeyFlags parses the flags of `textkit apikey <verb>`.
func parseAPIKeyFlags(verb string, args []string, getenv func(string) string, stdout io.Writer) (apikeyOptions, error) {
	fs := service.NewFlags("apikey "+verb, getenv)
	addr := fs.String("redis-addr", "127.0.0.1:6399", "Redis host:port, or a Redis Cluster's seed addresses host:port,host:port,...")
	password := fs.String("redis-password", "", "Redis password")
	unsafe := fs.Bool("redis-allow-unsafe-persistence", false, "write even if Redis could lose acknowledged writes")
	role := fs.FlagSet.String("role", "partner", "create: partner or operator")
	partner := fs.FlagSet.String("partner", "", "create: the partner id (role partner)")
	name := fs.FlagSet.String("name", "", "create: a name to recognise the key by")
	quiet := fs.FlagSet.Bool("quiet", false, "create: print only the key")
	id := fs.FlagSet.String("id", "", "revoke: the key id (the part after tk_ and before the second _)")
	if err := fs.Parse(args, stdout); err != nil {
		return apikeyOptions{}, err
	}
	return apikeyOptions{
		redis: redisstore.Config{Addr: *addr, Password: *password, AllowUnsafePersistence: *unsafe},
		role:  *role, partner: *partner, name: *name, quiet: *quiet, id: *id,
	}, nil
}

// connect opens the key store; done closes it. Each action connects only
// after its own flags are checked, so a usage error needs no Redis.
func (o apikeyOptions) connect(ctx context.Context) (store *redisstore.Store, done func(), err error) {
	rdb, err := redisstore.Connect(ctx, o.redis)
	if err != nil {
		return nil, nil, fmt.Errorf("apikey: %w", err)
	}
	// A close error after the action's work is done changes nothing.
	return redisstore.New(rdb), func() { _ = rdb.Close() }, nil
}

// apikeyRole checks -role and -partner of `apikey create` together.
func apikeyRole(role, partner string) (access.Role, error) {
	switch role {
	case "partner":
		if err := customer.ValidateID("partner", customer.NormalizeID(partner)); err != nil {
			return "", fmt.Errorf("apikey create: -partner must be the partner's id (a UUID) for role partner")
		}
		return access.RolePartner, nil
	case "operator":
		if partner != "" {
			return "", errors.New("apikey create: operators see every partner; drop -partner")
		}
		return access.RoleOperator, nil
	}
	return "", fmt.Errorf("apikey create: -role must be partner or operator, not %q", role)
}

// apikeyCreate is `textkit apikey create`: a partner key needs a partner
// that exists. The full key is printed once, here.
func apikeyCreate(ctx context.Context, o apikeyOptions, stdout io.Writer) error {
	r, err := apikeyRole(o.role, o.partner)
	if err != nil {
		return err
	}
	if o.name == "" {
		return errors.New("apikey create: -name is required (e.g. -name ci or -name acme-backend)")
	}
	store, done, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	pid := customer.NormalizeID(o.partner)
	if r == access.RolePartner {
		if p, err := store.Partner(ctx, pid); err != nil {
			return fmt.Errorf("apikey create: %w", err)
		} else if p == nil {
			return fmt.Errorf("apikey create: unknown partner %s (textkit seed, or the upsertPartner mutation, creates partners)", pid)
		}
	}
	k, full, err := access.Issue(ctx, store, o.name, r, pid, time.Now())
	if err != nil {
		return fmt.Errorf("apikey create: %w", err)
	}
	// The key is shown only now: a failed write must not pass for success.
	if o.quiet {
		_, err = fmt.Fprintln(stdout, full)
	} else {
		_, err = fmt.Fprintf(stdout, "created %s key %s (%s); it is shown only now:\n%s\n", k.Role, k.ID, k.Name, full)
	}
	if err != nil {
		return fmt.Errorf("apikey create: key %s was created but could not be shown (revoke it and create another): %w", k.ID, err)
	}
	return nil
}

// apikeyList is `textkit apikey list`: every key, revoked ones included,
// never the key itself.
func apikeyList(ctx context.Context, o apikeyOptions, stdout io.Writer) error {
	store, done, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	keys, err := store.APIKeys(ctx)
	if err != nil {
		return fmt.Errorf("apikey list: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	// tabwriter buffers; Flush reports any write error.
	_, _ = fmt.Fprintln(tw, "ID\tNAME\tROLE\tPARTNER\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if !k.RevokedAt.IsZero() {
			revoked = k.RevokedAt.Format(time.RFC3339)
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.PartnerID, k.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

// apikeyRevoke is `textkit apikey revoke`: the key stops working at once.
func apikeyRevoke(ctx context.Context, o apikeyOptions, stdout io.Writer) error {
	if o.id == "" {
		return errors.New("apikey revoke: -id is required (see textkit apikey list)")
	}
	store, done, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := store.RevokeAPIKey(ctx, o.id, time.Now()); errors.Is(err, access.ErrInvalidAPIKey) {
		return fmt.Errorf("apikey revoke: no key with id %q", o.id)
	} else if err != nil {
		return fmt.Errorf("apikey revoke: %w", err)
	}
	// The revocation is done; a lost confirmation line changes nothing.
	_, _ = fmt.Fprintf(stdout, "revoked key %s; it stops working now\n", o.id)
	return nil
}
