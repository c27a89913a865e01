package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Slot returns the Redis Cluster slot of key (CRC16 of its hash tag, or of
// the whole key when it has none, modulo 16384), as CLUSTER KEYSLOT does.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % 16384)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), Redis Cluster's.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// CheckSlots fails t when a command sent through rdb could not run on a
// Redis Cluster because its keys are in different slots: a Lua script's
// KEYS, a multi-key command's keys (MGET, DEL, EXISTS, ...), or the keys
// of a MULTI/EXEC transaction. On a single server such commands work, so
// this is how a test on one server keeps the store cluster-safe.
func CheckSlots(t testing.TB, rdb redis.UniversalClient) {
	rdb.AddHook(&slotChecker{report: t.Errorf})
}

type slotChecker struct {
	report func(format string, args ...any)
	mu     sync.Mutex
}

func (c *slotChecker) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *slotChecker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.check(cmd.Name(), commandKeys(cmd.Args()))
		return next(ctx, cmd)
	}
}

func (c *slotChecker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			var keys []string
			for _, cmd := range cmds {
				keys = append(keys, commandKeys(cmd.Args())...)
			}
			c.check("multi/exec", keys)
		} else {
			for _, cmd := range cmds {
				c.check(cmd.Name(), commandKeys(cmd.Args()))
			}
		}
		return next(ctx, cmds)
	}
}

func (c *slotChecker) check(name string, keys []string) {
	for _, k := range keys[min(1, len(keys)):] {
		if Slot(k) != Slot(keys[0]) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.report("%s touches keys of different cluster slots: %q (slot %d) and %q (slot %d)",
				name, keys[0], Slot(keys[0]), k, Slot(k))
			return
		}
	}
}

// allKeys are commands whose every argument is a key.
var allKeys = map[string]bool{"mget": true, "del": true, "unlink": true, "exists": true, "touch": true, "watch": true,
	"sunion": true, "sinter": true, "sdiff": true, "sunionstore": true, "sinterstore": true, "sdiffstore": true}

// commandKeys returns the keys a command touches, for the commands the
// store may send; others by their first argument.
func commandKeys(args []any) []string {
	if len(args) < 2 {
		return nil
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	strs := make([]string, len(args)-1)
	for i, a := range args[1:] {
		strs[i] = fmt.Sprint(a)
	}
	switch {
	case name == "eval" || name == "evalsha" || name == "eval_ro" || name == "evalsha_ro" || name == "fcall":
		n, err := strconv.Atoi(strs[min(1, len(strs)-1)])
		if err != nil || len(strs) < 2+n {
			return nil
		}
		return strs[2 : 2+n]
	case allKeys[name]:
		return strs
	case name == "rename" || name == "renamenx" || name == "smove" || name == "lmove" || name == "rpoplpush" || name == "copy":
		return strs[:min(2, len(strs))]
	case name == "multi" || name == "exec" || name == "ping" || name == "info" || name == "config" ||
		name == "script" || name == "cluster" || name == "hello" || name == "auth" || name == "client" || name == "flushall" ||
		name == "flushdb" || name == "scan" || name == "wait":
		return nil
	}
	return strs[:1]
}
