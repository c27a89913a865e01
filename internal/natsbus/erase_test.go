package natsbus_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
)

// storeHolds reports whether any file of the JetStream store holds needle.
func storeHolds(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = found || bytes.Contains(b, needle)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A removed message's bytes stay in its block file while other messages
// keep the block alive; EraseCommand overwrites them.
func TestEraseCommandOverwritesTheBytes(t *testing.T) {
	srv, js := setup(t)
	ctx := context.Background()
	gw, err := jetstream.New(srv.Connect(t, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(body string) uint64 {
		ack, err := gw.Publish(ctx, command.CommandSubject(partnerA, uuid.NewString()), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	plain := []byte("PlainCanary" + uuid.NewString())
	erased := []byte("ErasedCanary" + uuid.NewString())
	plainSeq := publish(string(plain))
	erasedSeq := publish(string(erased))
	publish("keeps the block alive")

	if err := stream.DeleteMsg(ctx, plainSeq); err != nil {
		t.Fatal(err)
	}
	pub, err := natsbus.NewPublisher(srv.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.EraseCommand(ctx, erasedSeq); err != nil {
		t.Fatal(err)
	}
	if err := pub.EraseCommand(ctx, erasedSeq); err != nil {
		t.Fatalf("erasing twice: %v", err)
	}
	if !storeHolds(t, srv.StoreDir, plain) {
		t.Fatal("control: a plain delete left no bytes behind, so this test proves nothing")
	}
	if storeHolds(t, srv.StoreDir, erased) {
		t.Fatal("an erased command's bytes are still in the store")
	}
}
