package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

// Bounded retries of one operation while the cluster fails over: a lost
// raft leader is replaced within seconds (performance_multiplier 1), so
// this many attempts, retryPause apart, cover it many times over. No
// assertion depends on how long anything takes.
const (
	maxAttempts = 300
	retryPause  = 100 * time.Millisecond
)

// retry runs op until it succeeds, failing on a permanent error or after
// maxAttempts transient ones. It returns how many attempts failed.
func retry(ctx context.Context, what string, op func(context.Context) error) (int, error) {
	var err error
	for i := 0; i < maxAttempts; i++ {
		if err = op(ctx); err == nil {
			return i, nil
		}
		if !vault.IsTransient(err) {
			return i, fmt.Errorf("%s: permanent error: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return i, fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(retryPause):
		}
	}
	return maxAttempts, fmt.Errorf("%s: still failing after %d attempts: %w", what, maxAttempts, err)
}

// lifecycle is one customer's key life: create, encrypt, decrypt (the
// plaintext must come back), destroy, and decrypt again (must fail as not
// found). Each step retries transient errors.
func lifecycle(ctx context.Context, retention, gateway *vault.Client, id string) error {
	plain := []byte("contact of " + id)
	if _, err := retry(ctx, "create key", func(ctx context.Context) error { return retention.CreateKey(ctx, id) }); err != nil {
		return err
	}
	var ct string
	if _, err := retry(ctx, "encrypt", func(ctx context.Context) (err error) { ct, err = gateway.Encrypt(ctx, id, plain); return err }); err != nil {
		return err
	}
	var got []byte
	if _, err := retry(ctx, "decrypt", func(ctx context.Context) (err error) { got, err = gateway.Decrypt(ctx, id, ct); return err }); err != nil {
		return err
	}
	if !bytes.Equal(got, plain) {
		return fmt.Errorf("decrypt of %s = %q, want %q", id, got, plain)
	}
	if _, err := retry(ctx, "destroy key", func(ctx context.Context) error { return retention.DestroyKey(ctx, id) }); err != nil {
		return err
	}
	_, err := retry(ctx, "decrypt after destroy", func(ctx context.Context) error {
		_, err := gateway.Decrypt(ctx, id, ct)
		if errors.Is(err, vault.ErrKeyNotFound) {
			return nil
		}
		if err == nil {
			return errors.New("decrypt after destroy succeeded")
		}
		return err
	})
	return err
}

// TestClusterFailover kills the active node of a three-node raft Vault
// with SIGKILL while key lifecycles run through clients that list every
// node: no call fails permanently, a standby takes over, every lifecycle
// completes, and afterwards a client whose first address is the dead node
// serves every call at the first attempt.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Vault cluster")
	}
	cl := vaulttest.StartCluster(t)
	tokens := cl.Bootstrap(t)
	retention, gateway := cl.Client(t, tokens.Retention), cl.Client(t, tokens.Gateway)
	c := ctx(t)
	c, cancel := context.WithTimeout(c, 2*time.Minute)
	defer cancel()

	if err := lifecycle(c, retention, gateway, newID(t)); err != nil {
		t.Fatalf("before the failover: %v", err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	done := make([]int, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := lifecycle(c, retention, gateway, newID(t)); err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				done[w]++
			}
		}()
	}

	old := cl.Active(t)
	cl.Kill(t, old)
	now := cl.Active(t)
	if now == old {
		t.Fatalf("node %d still active after being killed", old)
	}
	// Let every worker finish at least one lifecycle on the new leader.
	if err := lifecycle(c, retention, gateway, newID(t)); err != nil {
		t.Errorf("after the failover: %v", err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("lifecycles completed by the workers: %v; active node %d -> %d", done, old, now)

	// The dead node first in the list: it must cost nothing but a refused
	// connection, so every call succeeds at the first attempt.
	addrs := strings.Split(cl.Addrs(), ",")
	deadFirst := append([]string{addrs[old]}, append(addrs[:old:old], addrs[old+1:]...)...)
	mk := func(token string) *vault.Client {
		v, err := vault.New(vault.Config{Addr: strings.Join(deadFirst, ","), Token: token})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ret2, gw2 := mk(tokens.Retention), mk(tokens.Gateway)
	if err := gw2.Health(c); err != nil {
		t.Errorf("health with the dead node first: %v", err)
	}
	for i := 0; i < 5; i++ {
		id := newID(t)
		if err := ret2.CreateKey(c, id); err != nil {
			t.Fatalf("create key with the dead node first: %v", err)
		}
		ct, err := gw2.Encrypt(c, id, []byte("x"))
		if err != nil {
			t.Fatalf("encrypt with the dead node first: %v", err)
		}
		if got, err := gw2.Decrypt(c, id, ct); err != nil || string(got) != "x" {
			t.Fatalf("decrypt with the dead node first = %q, %v", got, err)
		}
		if err := ret2.DestroyKey(c, id); err != nil {
			t.Fatalf("destroy key with the dead node first: %v", err)
		}
	}

	// The killed node comes back as a standby, and the cluster serves on.
	cl.Start(t, old)
	if a := cl.Active(t); a == old {
		t.Errorf("the restarted node %d took over; want it a standby", old)
	}
	if err := lifecycle(c, retention, gateway, newID(t)); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}
