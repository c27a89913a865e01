package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisStartTimeout bounds how long StartRedis waits for PING to answer.
const redisStartTimeout = 15 * time.Second

// Redis is a redis-server started for one test, on a free loopback port, in
// a temporary directory, configured as production runs it: append-only file
// fsynced on every write, no eviction, a password. It is stopped when the
// test ends.
type Redis struct {
	// Addr is host:port to connect to.
	Addr string
	// Port is the TCP port of Addr.
	Port int
	// Password is the requirepass password (AUTH <password>).
	Password string
	// Dir is the server's working directory, where its data lives.
	Dir string

	bin   string
	extra []string
	// out keeps the output of every process the server ran as, across
	// restarts.
	out  Buffer
	mu   sync.Mutex
	proc *Process
}

// RedisOption changes how StartRedis configures the server.
type RedisOption func(*redisConfig)

type redisConfig struct {
	password string
	extra    []string
}

// WithRedisConfig adds a configuration directive, given on the command line
// after the defaults so it overrides them, e.g.
// WithRedisConfig("appendfsync", "everysec").
func WithRedisConfig(directive string, values ...string) RedisOption {
	return func(c *redisConfig) {
		c.extra = append(c.extra, "--"+directive)
		c.extra = append(c.extra, values...)
	}
}

// WithRedisPassword sets the password instead of a random one.
func WithRedisPassword(password string) RedisOption {
	return func(c *redisConfig) { c.password = password }
}

// StartRedis starts redis-server (found through Binary, so a missing one
// skips the test outside CI and fails it under CI) and waits until it answers
// PING.
func StartRedis(t testing.TB, opts ...RedisOption) *Redis {
	t.Helper()
	bin := Binary(t, "redis-server")
	cfg := redisConfig{password: RandomHex(16)}
	for _, o := range opts {
		o(&cfg)
	}
	r := &Redis{Password: cfg.password, Dir: t.TempDir(), bin: bin, extra: cfg.extra}
	// The server lives as long as the test that started it, whichever
	// (sub)test restarts it: the process running when that test ends is
	// stopped then.
	t.Cleanup(func() {
		if p := r.Process(); p != nil {
			_ = p.Terminate(StopTimeout) // killed or not, it has exited
		}
		if t.Failed() {
			t.Logf("output of redis-server on %s (every run):\n%s", r.Addr, r.out.Tail(maxShownOutput))
		}
	})
	var err error
	// FreePort can race with another process taking the port: try others.
	for attempt := 0; attempt < 3; attempt++ {
		r.Port = FreePort(t)
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port))
		if err = r.start(t); err == nil {
			return r
		}
	}
	t.Fatalf("redis-server did not start: %v", err)
	return nil
}

// AOFDir is the directory of the append-only file (Redis 7 keeps a base
// file, incremental files and a manifest there).
func (r *Redis) AOFDir() string { return filepath.Join(r.Dir, "appendonlydir") }

// Process is the running (or last) redis-server process.
func (r *Redis) Process() *Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// Stop shuts the server down with SIGTERM (Redis fsyncs and exits).
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.Process().Stop(t)
}

// Kill kills the server with SIGKILL, as a crash would: only what was
// already fsynced survives.
func (r *Redis) Kill(t testing.TB) {
	t.Helper()
	r.Process().Kill(t)
}

// Start starts the server again after Stop or Kill, on the same port and in
// the same directory, and waits until it answers PING (it has then loaded
// the append-only file).
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if ok, _ := r.Process().Exited(); !ok {
		t.Fatalf("redis-server (pid %d) is still running", r.Process().Pid())
	}
	if err := r.start(t); err != nil {
		t.Fatalf("restart redis-server on %s: %v", r.Addr, err)
	}
}

// Restart is Stop followed by Start: to prove that acknowledged writes
// survive a restart. Use Kill and Start to prove they survive a crash.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.Stop(t)
	r.Start(t)
}

// Do sends one command on a new authenticated connection and returns the
// reply: a string for simple and bulk strings, int64 for integers, nil for a
// null, []any for arrays, and an error for an error reply.
func (r *Redis) Do(args ...string) (any, error) {
	return respDo(r.Addr, r.Password, args...)
}

func (r *Redis) args() []string {
	a := []string{
		"--port", strconv.Itoa(r.Port),
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--dir", r.Dir,
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--maxmemory-policy", "noeviction",
		"--save", "",
		"--daemonize", "no",
		"--logfile", "",
		"--requirepass", r.Password,
	}
	return append(a, r.extra...)
}

func (r *Redis) start(t testing.TB) error {
	t.Helper()
	cmd := exec.Command(r.bin, r.args()...)
	p, err := Launch(cmd, LaunchOptions{Output: &r.out})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	err = Poll(redisStartTimeout, func() error {
		reply, err := r.Do("PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		if exited, werr := p.Exited(); exited {
			return Abort(fmt.Errorf("redis-server exited (%v)", werr))
		}
		return fmt.Errorf("no PONG (last: %v, %v)", reply, err)
	})
	if err != nil {
		_ = p.Terminate(StopTimeout) // the start failed either way
		return fmt.Errorf("%w:\n%s", err, p.Tail())
	}
	return nil
}

// RESPError is an error reply from Redis ("-ERR …", "-LOADING …").
type RESPError string

func (e RESPError) Error() string { return string(e) }

// respDo dials addr, authenticates when password is set, and sends one
// command in RESP.
func respDo(addr, password string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	// a probe connection: nothing was written that a failed close could lose
	defer func() { _ = conn.Close() }()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	rd := bufio.NewReader(conn)
	if password != "" {
		if err := writeCommand(conn, "AUTH", password); err != nil {
			return nil, err
		}
		if _, err := readReply(rd); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	if err := writeCommand(conn, args...); err != nil {
		return nil, err
	}
	return readReply(rd)
}

func writeCommand(w io.Writer, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("resp: empty line")
	}
	switch kind, rest := line[0], line[1:]; kind {
	case '+':
		return rest, nil
	case '-':
		return nil, RESPError(rest)
	case ':':
		return strconv.ParseInt(rest, 10, 64)
	case '$':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("resp: bulk length %q: %w", rest, err)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("resp: array length %q: %w", rest, err)
		}
		if n < 0 {
			return nil, nil
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readReply(rd); err != nil {
				var re RESPError
				if !errors.As(err, &re) {
					return nil, err
				}
				items[i] = re
			}
		}
		return items, nil
	default:
		return nil, fmt.Errorf("resp: unexpected reply %q", line)
	}
}
