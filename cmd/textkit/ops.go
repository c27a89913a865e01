package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/ops"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/service"
)

// Exit codes of textkit (README, "Operating").
const (
	exitError    = 1 // something failed
	exitUsage    = 2 // the command line is wrong
	exitNotFound = 3 // what was asked for does not exist (or no longer does)
)

// usageError marks an error in the command line itself (exit code 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode is the process exit code for err (nil: 0).
func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil, errors.Is(err, service.ErrHelp), errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, ops.ErrNotFound):
		return exitNotFound
	case errors.As(err, &u):
		return exitUsage
	}
	return exitError
}

// opsFlags are the flags every operations command takes; each uses those
// it needs.
type opsFlags struct {
	fs                      *service.Flags
	redis                   redisstore.Config
	natsURL, natsUser, pass string
	replayUser, replayPass  string
	dataDir                 string
	json, all               bool
	limit                   int
	getenv                  func(string) string
}

// parseOps splits args into the leading positional arguments and the
// flags after them (`textkit dlq show 12 -json`) and parses the flags.
func parseOps(name string, args []string, getenv func(string) string, stdout io.Writer) (*opsFlags, []string, error) {
	return parseOpsWith(name, args, getenv, stdout, nil)
}

// parseOpsWith is parseOps with flags of the action's own, which extra
// defines.
func parseOpsWith(name string, args []string, getenv func(string) string, stdout io.Writer, extra func(*opsFlags)) (*opsFlags, []string, error) {
	fs := service.NewFlags(name, getenv)
	o := &opsFlags{fs: fs, getenv: getenv}
	addr := fs.String("redis-addr", "127.0.0.1:6399", "Redis host:port, or a Redis Cluster's seed addresses host:port,host:port,...")
	rpass := fs.String("redis-password", "", "Redis password (default: TEXTKIT_REDIS_PASSWORD of <data-dir>/secrets.env)")
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS URL (dlq)")
	fs.StringVar(&o.natsUser, "nats-user", "provisioner", "NATS user reading the streams (dlq; needs their JetStream API)")
	fs.StringVar(&o.pass, "nats-password", "", "password of -nats-user (default: TEXTKIT_NATS_<USER>_PASSWORD from the environment, else <data-dir>/secrets.env)")
	fs.StringVar(&o.replayUser, "replay-user", "", "dlq replay: NATS user publishing the command again (default: gateway for a gateway command, the partner's direct publisher partner-<8 hex> for a direct one)")
	fs.StringVar(&o.replayPass, "replay-password", "", "dlq replay: its password (default as for -nats-password)")
	fs.StringVar(&o.dataDir, "data-dir", "", "the dev stack's data directory, for secrets.env (default $TEXTKIT_DATA_DIR, else .data)")
	fs.BoolVar(&o.json, "json", false, "print JSON (one document; the field names are stable)")
	fs.BoolVar(&o.all, "all", false, "dlq purge: every dead letter")
	fs.IntVar(&o.limit, "limit", 100, "most entries listed (dlq list, keys due)")
	if extra != nil {
		extra(o)
	}
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := fs.Parse(args, stdout); err != nil {
		if errors.Is(err, service.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, usageError{fmt.Errorf("%s: %w", name, err)}
	}
	if o.limit < 1 {
		return nil, nil, usagef("%s: -limit must be at least 1", name)
	}
	o.dataDir = cmp(o.dataDir, getenv("TEXTKIT_DATA_DIR"), ".data")
	o.redis = redisstore.Config{Addr: *addr, Password: cmp(*rpass, secretFrom(getenv, o.dataDir, "TEXTKIT_REDIS_PASSWORD"))}
	o.natsURL = *natsURL
	return o, pos, nil
}

// natsPassword is the password of user: given, else the dev stack's.
func (o *opsFlags) natsPassword(user, given string) string {
	return cmp(given, secretFrom(o.getenv, o.dataDir, natsPasswordVar(user)))
}

// devPartnerPasswords names the secret (scripts/secrets.sh) of each direct
// publisher deploy/nats/nats.conf defines for the dev seed's partners.
var devPartnerPasswords = map[string]string{
	"partner-25521a6f": "TEXTKIT_NATS_PARTNER_PASSWORD",
	"partner-7d3c9a52": "TEXTKIT_NATS_PARTNER2_PASSWORD",
}

// natsPasswordVar is the variable holding user's password on the dev
// stack: a service's TEXTKIT_NATS_<USER>_PASSWORD, a seed partner's its
// own; any other partner's user falls back to the first partner's.
func natsPasswordVar(user string) string {
	if name, ok := devPartnerPasswords[user]; ok {
		return name
	}
	if strings.HasPrefix(user, "partner-") {
		return "TEXTKIT_NATS_PARTNER_PASSWORD"
	}
	return "TEXTKIT_NATS_" + strings.ToUpper(user) + "_PASSWORD"
}

// connectNATS connects as user and returns its JetStream context.
func (o *opsFlags) connectNATS(user, password string) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.Name("textkit"), nats.UserInfo(user, o.natsPassword(user, password))}
	if strings.HasPrefix(user, "partner-") {
		opts = append(opts, nats.CustomInboxPrefix("_INBOX_"+user))
	}
	nc, err := nats.Connect(o.natsURL, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS %s as %s: %w", o.natsURL, user, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// store connects to Redis; done closes it.
func (o *opsFlags) store(ctx context.Context) (*redisstore.Store, func(), error) {
	rdb, err := redisstore.Connect(ctx, o.redis)
	if err != nil {
		return nil, nil, err
	}
	// Read-only use: a close error changes nothing.
	return redisstore.New(rdb), func() { _ = rdb.Close() }, nil
}

// emit prints v as JSON with -json, else as text.
func (o *opsFlags) emit(w io.Writer, v any, text func(io.Writer) error) error {
	if !o.json {
		return text(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// oneArg is the one positional argument of an action.
func oneArg(name, what string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("%s: want exactly one %s (textkit %s <%s> [flags])", name, what, name, what)
	}
	return pos[0], nil
}

// seqArg parses a dead letter's sequence number.
func seqArg(name, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usagef("%s: %q is not a dead letter's sequence (a positive number, see textkit dlq list)", name, s)
	}
	return n, nil
}

// verb splits `textkit <noun> <verb> …` and checks the verb.
func verb(noun string, args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 || !slices.Contains(verbs, args[0]) {
		return "", nil, usagef("%s: want %s (textkit %s %s -h)", noun, strings.Join(verbs, ", "), noun, verbs[0])
	}
	return args[0], args[1:], nil
}
