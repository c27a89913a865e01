package stacktest

// Scanning a running stack for a canary: every place the system keeps
// something, each scan failing the test when it found nothing to scan.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/testenv"
)

// Areas a Stack's scans report findings and counts under.
const (
	AreaRedisKeys    = "redis keys"
	AreaRedisFiles   = "redis files"
	AreaStreams      = "jetstream messages"
	AreaStreamFiles  = "jetstream store files"
	AreaLogs         = "logs"
	AreaTwilio       = "twilio emulator"
	AreaTwilioFiles  = "twilio emulator state file"
	AreaStreamConfig = "jetstream stream info"
)

// ScanEverywhere runs every scan of the stack's stores, files and logs
// (ScanRedis, ScanRedisFiles, ScanStreams, ScanStreamFiles, ScanLogs,
// ScanTwilio) into sc. Each fails t when it scanned nothing.
func (s *Stack) ScanEverywhere(t testing.TB, sc *Scanner) {
	t.Helper()
	s.ScanRedis(t, sc)
	s.ScanRedisFiles(t, sc)
	s.ScanStreams(t, sc)
	s.ScanStreamFiles(t, sc)
	s.ScanLogs(t, sc)
	s.ScanTwilio(t, sc)
}

// ScanRedis scans every Redis key: its name, its DUMP and its value read
// according to its type. Redis compresses long strings in DUMP (and in
// the RDB preamble of its append-only file) with LZF, which would hide a
// plaintext copy, so ScanRedis first turns rdbcompression off.
func (s *Stack) ScanRedis(t testing.TB, sc *Scanner) {
	t.Helper()
	ctx := context.Background()
	if err := s.RDB.ConfigSet(ctx, "rdbcompression", "no").Err(); err != nil {
		t.Fatalf("scan redis: turn rdbcompression off: %v", err)
	}
	keys := 0
	iter := s.RDB.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		dump, err := s.RDB.Dump(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired or deleted since SCAN returned it
		}
		if err != nil {
			t.Fatalf("scan redis: dump %q: %v", k, err)
		}
		value, err := redisValue(ctx, s.RDB, k)
		if err != nil {
			t.Fatalf("scan redis: read %q: %v", k, err)
		}
		sc.Scan(AreaRedisKeys, "key "+k+" (name)", []byte(k))
		sc.Scan(AreaRedisKeys, "key "+k+" (DUMP)", []byte(dump))
		sc.Scan(AreaRedisKeys, "key "+k+" (value)", value)
		keys++
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan redis: %v", err)
	}
	if keys == 0 {
		t.Fatal("scan redis: no keys: the scan proves nothing")
	}
}

// redisValue returns every part of key's value (fields, members, scores,
// stream entries), one per line.
func redisValue(ctx context.Context, rdb *redis.Client, key string) ([]byte, error) {
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	var parts []string
	switch typ {
	case "none":
		return nil, nil
	case "string":
		v, err := rdb.Get(ctx, key).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		parts = []string{v}
	case "hash":
		m, err := rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, err
		}
		for f, v := range m {
			parts = append(parts, f, v)
		}
	case "list":
		if parts, err = rdb.LRange(ctx, key, 0, -1).Result(); err != nil {
			return nil, err
		}
	case "set":
		if parts, err = rdb.SMembers(ctx, key).Result(); err != nil {
			return nil, err
		}
	case "zset":
		zs, err := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			return nil, err
		}
		for _, z := range zs {
			parts = append(parts, fmt.Sprint(z.Member), fmt.Sprint(z.Score))
		}
	case "stream":
		xs, err := rdb.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			return nil, err
		}
		for _, x := range xs {
			parts = append(parts, x.ID)
			for f, v := range x.Values {
				parts = append(parts, f, fmt.Sprint(v))
			}
		}
	default:
		return nil, fmt.Errorf("type %s: the scan does not know how to read it", typ)
	}
	return []byte(strings.Join(parts, "\n")), nil
}

// ScanRedisFiles scans every file in Redis' directory (the append-only
// file's base, incremental files and manifest), as they are: the
// incremental files hold every write since the last rewrite, deleted keys
// included. It then has Redis rewrite its append-only file
// (BGREWRITEAOF, compression off), waits for the rewrite and scans the
// new files too.
func (s *Stack) ScanRedisFiles(t testing.TB, sc *Scanner) {
	t.Helper()
	ctx := context.Background()
	scanDir(t, sc, AreaRedisFiles, "before rewrite: ", s.Redis.Dir)
	if err := s.RDB.ConfigSet(ctx, "rdbcompression", "no").Err(); err != nil {
		t.Fatalf("scan redis files: turn rdbcompression off: %v", err)
	}
	if err := s.RDB.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatalf("scan redis files: bgrewriteaof: %v", err)
	}
	testenv.Eventually(t, 15*time.Second, func() error {
		info, err := s.RDB.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatalf("scan redis files: info: %v", err)
		}
		if !strings.Contains(info, "aof_rewrite_in_progress:0") || !strings.Contains(info, "aof_rewrite_scheduled:0") {
			return fmt.Errorf("scan redis files: the append-only file rewrite did not finish:\n%s", info)
		}
		if !strings.Contains(info, "aof_last_bgrewrite_status:ok") {
			t.Fatalf("scan redis files: the append-only file rewrite failed:\n%s", info)
		}
		return nil
	})
	scanDir(t, sc, AreaRedisFiles, "after rewrite: ", s.Redis.Dir)
}

// ScanStreams reads every message of every JetStream stream, by sequence
// from the first to the last, and scans its subject, headers and data,
// and every stream's info (configuration and state). It returns how many
// messages it read in each stream.
func (s *Stack) ScanStreams(t testing.TB, sc *Scanner) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, name := range streamNames(ctx, t, js) {
		counts[name] = scanStream(ctx, t, js, sc, name)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		t.Fatal("scan streams: no messages in any stream: the scan proves nothing")
	}
	return counts
}

// streamNames returns the names of every stream, sorted; none at all
// fails t, since a scan of nothing proves nothing.
func streamNames(ctx context.Context, t testing.TB, js jetstream.JetStream) []string {
	t.Helper()
	names := js.StreamNames(ctx)
	var streams []string
	for n := range names.Name() {
		streams = append(streams, n)
	}
	if err := names.Err(); err != nil {
		t.Fatalf("scan streams: list: %v", err)
	}
	if len(streams) == 0 {
		t.Fatal("scan streams: no streams: the scan proves nothing")
	}
	sort.Strings(streams)
	return streams
}

// scanStream scans the stream's configuration and every message still
// in it, by sequence, and returns how many messages it scanned.
func scanStream(ctx context.Context, t testing.TB, js jetstream.JetStream, sc *Scanner, name string) int {
	t.Helper()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("scan streams: %s: %v", name, err)
	}
	info := st.CachedInfo()
	b, _ := json.Marshal(info)
	sc.Scan(AreaStreamConfig, "stream "+name, b)
	count := 0
	if info.State.Msgs == 0 {
		return count
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			t.Fatalf("scan streams: %s message %d: %v", name, seq, err)
		}
		sc.Scan(AreaStreams, fmt.Sprintf("stream %s message %d (%s)", name, seq, m.Subject), rawMessage(m))
		count++
	}
	return count
}

// rawMessage renders a stored message as the scanner reads it: its
// subject, its headers sorted by name, a blank line and its data, so a
// canary anywhere in it is found.
func rawMessage(m *jetstream.RawStreamMsg) []byte {
	var buf bytes.Buffer
	buf.WriteString(m.Subject + "\n")
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range m.Header[k] {
			buf.WriteString(k + ": " + v + "\n")
		}
	}
	buf.WriteString("\n")
	buf.Write(m.Data)
	return buf.Bytes()
}

// ScanStreamFiles scans every file in JetStream's store directory: what
// a deleted message left behind is found there too.
func (s *Stack) ScanStreamFiles(t testing.TB, sc *Scanner) {
	t.Helper()
	ScanDir(t, sc, AreaStreamFiles, s.NATS.StoreDir)
}

// ScanLogs scans every service's log (s.Logs), Vault's and redis-server's
// output.
func (s *Stack) ScanLogs(t testing.TB, sc *Scanner) {
	t.Helper()
	logs := s.Logs.Bytes()
	if len(logs) == 0 {
		t.Fatal("scan logs: the services logged nothing: the scan proves nothing")
	}
	sc.Scan(AreaLogs, "services' logs", logs)
	sc.Scan(AreaLogs, "vault server output", []byte(s.Vault.Output()))
	sc.Scan(AreaLogs, "redis-server output", []byte(s.Redis.Process().Output()))
}

// ScanTwilio scans the Twilio emulator's accounts, the requests it
// received and its state file, if it keeps one (Options.TwilioState).
func (s *Stack) ScanTwilio(t testing.TB, sc *Scanner) {
	t.Helper()
	accounts := s.Twilio.Accounts()
	if len(accounts) < 2 {
		t.Fatalf("scan twilio: %d accounts, no sub-account: the scan proves little", len(accounts))
	}
	for _, a := range accounts {
		b, _ := json.Marshal(a)
		sc.Scan(AreaTwilio, "account "+a.SID, b)
	}
	for i, r := range s.Twilio.Requests() {
		b, _ := json.Marshal(r)
		sc.Scan(AreaTwilio, fmt.Sprintf("request %d (%s %s)", i, r.Method, r.Path), b)
	}
	if s.TwilioStateFile == "" {
		return
	}
	b, err := os.ReadFile(s.TwilioStateFile)
	if err != nil {
		t.Fatalf("scan twilio: state file: %v", err)
	}
	sc.Scan(AreaTwilioFiles, s.TwilioStateFile, b)
}

// ScanDir scans every file under dir as one item of area, and fails t if
// there is none.
func ScanDir(t testing.TB, sc *Scanner, area, dir string) {
	t.Helper()
	scanDir(t, sc, area, "", dir)
}

func scanDir(t testing.TB, sc *Scanner, area, prefix, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a rewrite's old file)
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		sc.Scan(area, prefix+rel, b)
		files++
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	if files == 0 {
		t.Fatalf("scan %s: no files: the scan proves nothing", dir)
	}
}
