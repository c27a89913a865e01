package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"TEXTKIT_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef", "TEXTKIT_TWILIO_AUTH_TOKEN": "secret1"}
	state := filepath.Join(t.TempDir(), "twilio.json")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-twilio-emulator-addr", "127.0.0.1:0", "-twilio-emulator-state", state}, func(k string) string { return env[k] }, pw, io.Discard)
		_ = pw.Close()
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // drain the rest
	base := strings.Fields(line)[3]
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("banner %q", line)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/2010-04-01/Accounts.json", strings.NewReader("FriendlyName=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(env["TEXTKIT_TWILIO_ACCOUNT_SID"], env["TEXTKIT_TWILIO_AUTH_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("create: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}

func TestRefusesBadCredentials(t *testing.T) {
	env := map[string]string{"TEXTKIT_TWILIO_ACCOUNT_SID": "not-a-sid"}
	if err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil {
		t.Error("run accepted a malformed account sid")
	}
}
