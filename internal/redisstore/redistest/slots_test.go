package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestSlotIsRedisKeySlot(t *testing.T) {
	for key, want := range map[string]int{
		"foo": 12182, "bar": 5061, "{foo}:x": 12182, "x{bar}y": 5061, "{}foo": Slot("{}foo"), "foo{": Slot("foo{"),
	} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	if Slot("{}foo") == Slot("foo") {
		t.Errorf("an empty hash tag must not count as one")
	}
}

// A script, a multi-key command or a transaction over keys of two slots is
// reported; over one slot it is not.
func TestCheckSlotsReportsCrossSlotCommands(t *testing.T) {
	ctx := context.Background()
	rdb, _ := Start(t)
	var reports []string
	rdb.AddHook(&slotChecker{report: func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) }})
	script := redis.NewScript(`return #KEYS`)

	_ = script.Run(ctx, rdb, []string{"{a}:1", "{a}:2"}).Err()
	_ = rdb.MGet(ctx, "{a}:1", "{a}:2").Err()
	tx := rdb.TxPipeline()
	tx.Set(ctx, "{a}:1", "v", 0)
	tx.Set(ctx, "{a}:2", "v", 0)
	_, _ = tx.Exec(ctx)
	if len(reports) != 0 {
		t.Fatalf("one-slot commands reported: %q", reports)
	}

	_ = script.Run(ctx, rdb, []string{"{a}:1", "{b}:1"}).Err()
	_ = rdb.MGet(ctx, "{a}:1", "{b}:1").Err()
	tx = rdb.TxPipeline()
	tx.Set(ctx, "{a}:1", "v", 0)
	tx.Set(ctx, "{b}:1", "v", 0)
	_, _ = tx.Exec(ctx)
	want := []string{"evalsha", "mget", "multi/exec"}
	if len(reports) != len(want) {
		t.Fatalf("reports %q, want one for each of %q", reports, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(reports[i], w+" touches keys of different cluster slots") {
			t.Errorf("report %d = %q, want it about %s", i, reports[i], w)
		}
	}
}
