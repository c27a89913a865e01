package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStartRedisIsConfiguredForDurability(t *testing.T) {
	r := StartRedis(t)

	for _, tc := range []struct{ param, want string }{
		{"appendonly", "yes"},
		{"appendfsync", "always"},
		{"maxmemory-policy", "noeviction"},
		{"bind", "127.0.0.1"},
		{"protected-mode", "yes"},
		{"dir", r.Dir},
	} {
		got, err := r.Do("CONFIG", "GET", tc.param)
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", tc.param, err)
		}
		if want := []any{tc.param, tc.want}; !reflect.DeepEqual(got, want) {
			t.Errorf("CONFIG GET %s = %#v, want %#v", tc.param, got, want)
		}
	}
	if !strings.HasPrefix(r.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %q, want a loopback address", r.Addr)
	}
}

func TestStartRedisRequiresThePassword(t *testing.T) {
	r := StartRedis(t)

	_, err := respDo(r.Addr, "", "PING")
	var re RESPError
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "NOAUTH") {
		t.Errorf("PING without AUTH: err = %v, want NOAUTH", err)
	}
	if _, err := respDo(r.Addr, "wrong", "PING"); err == nil {
		t.Error("PING with a wrong password succeeded")
	}
	if got, err := r.Do("PING"); err != nil || got != "PONG" {
		t.Errorf("PING = %v, %v; want PONG", got, err)
	}
}

func TestRedisWriteSurvivesCrash(t *testing.T) {
	r := StartRedis(t)
	addr := r.Addr
	if got, err := r.Do("SET", "customer:1", "v1"); err != nil || got != "OK" {
		t.Fatalf("SET = %v, %v", got, err)
	}

	r.Kill(t) // no shutdown fsync: only appendfsync always saves the write
	r.Start(t)

	if r.Addr != addr {
		t.Errorf("Addr after Start = %q, want %q", r.Addr, addr)
	}
	if got, err := r.Do("GET", "customer:1"); err != nil || got != "v1" {
		t.Errorf("GET after crash = %v, %v; want v1", got, err)
	}
	if _, err := os.Stat(filepath.Join(r.AOFDir(), "appendonly.aof.manifest")); err != nil {
		t.Errorf("AOF manifest: %v", err)
	}
}

func TestRedisRestartKeepsData(t *testing.T) {
	r := StartRedis(t, WithRedisPassword("fixed-password"))
	if r.Password != "fixed-password" {
		t.Fatalf("Password = %q", r.Password)
	}
	if _, err := r.Do("HSET", "h", "f", "x"); err != nil {
		t.Fatal(err)
	}
	oldPid := r.Process().Pid()

	r.Restart(t)

	if r.Process().Pid() == oldPid {
		t.Error("Restart kept the same process")
	}
	if got, err := r.Do("HGET", "h", "f"); err != nil || got != "x" {
		t.Errorf("HGET after restart = %v, %v; want x", got, err)
	}
}

func TestWithRedisConfigOverridesDefaults(t *testing.T) {
	r := StartRedis(t, WithRedisConfig("appendfsync", "everysec"), WithRedisConfig("maxmemory", "1mb"))

	for param, want := range map[string]string{"appendfsync": "everysec", "maxmemory": "1048576"} {
		got, err := r.Do("CONFIG", "GET", param)
		if err != nil {
			t.Fatal(err)
		}
		if w := []any{param, want}; !reflect.DeepEqual(got, w) {
			t.Errorf("CONFIG GET %s = %#v, want %#v", param, got, w)
		}
	}
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    any
		wantErr string
	}{
		{"+OK\r\n", "OK", ""},
		{"-ERR wrong\r\n", nil, "ERR wrong"},
		{":42\r\n", int64(42), ""},
		{"$5\r\nhello\r\n", "hello", ""},
		{"$0\r\n\r\n", "", ""},
		{"$-1\r\n", nil, ""},
		{"*2\r\n$1\r\na\r\n:1\r\n", []any{"a", int64(1)}, ""},
		{"*-1\r\n", nil, ""},
		{"?\r\n", nil, "unexpected"},
	} {
		got, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("readReply(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("readReply(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

func TestStartProcessCapturesOutputAndStops(t *testing.T) {
	sh, err := findSh()
	if err != nil {
		t.Skip(err)
	}
	p := StartProcess(t, sh, []string{"-c", `echo "hello $GREETING"; exec sleep 60`}, []string{"GREETING=world"})

	Eventually(t, 5*time.Second, func() error {
		if out := p.Output(); !strings.Contains(out, "hello world") {
			return fmt.Errorf("output = %q, want hello world", out)
		}
		return nil
	})
	p.Stop(t)
	if exited, _ := p.Exited(); !exited {
		t.Error("process still running after Stop")
	}
	p.Stop(t) // a second Stop is a no-op
}

func findSh() (string, error) {
	for _, p := range []string{"/bin/sh", "/usr/bin/sh"} {
		if isExec(p) {
			return p, nil
		}
	}
	return "", errors.New("no /bin/sh")
}
