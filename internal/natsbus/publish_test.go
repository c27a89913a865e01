package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
)

// A command published while its server is away (a node dying, a stream
// leader being elected: no answer for a while) is sent again with the same
// id once the server is back, and stored once, instead of failing.
func TestPublishCommandRidesOutAServerRestart(t *testing.T) {
	srv, js := setup(t)
	nc, err := natsbus.Connect(context.Background(), natsbus.Config{URL: srv.URL(), User: "gateway", Password: natstest.Passwords["gateway"], Name: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	gw, err := natsbus.NewCommandPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := &command.Command{Version: command.WireVersion, ID: uuid.NewString(), Type: command.Activate, CustomerID: uuid.NewString(), PartnerID: partnerA}
	srv.Shutdown()
	back := make(chan struct{})
	go func() {
		defer close(back)
		time.Sleep(time.Second)
		srv.Restart(t)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := gw.PublishCommand(ctx, c); err != nil {
		t.Fatalf("publish across the restart: %v", err)
	}
	<-back
	if err := gw.PublishCommand(ctx, c); err != nil { // the same command again: de-duplicated
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("the command stream holds %d messages; want the command once", info.State.Msgs)
	}
}
