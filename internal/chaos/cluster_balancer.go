package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"
)

// balancer spreads the partner's requests over the gateways, round
// robin, as a load balancer in front of them would: a request whose
// connection a gateway refuses (it is restarting) goes to the next one,
// since nothing of it was sent; any other failure is the client's answer.
type balancer struct {
	srv      *http.Server
	backends []string
	next     atomic.Uint64
	client   *http.Client
}

// startBalancer listens on addr and forwards to backends (base URLs).
func startBalancer(addr string, backends []string) (*balancer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("load balancer: %w", err)
	}
	b := &balancer{backends: backends, client: &http.Client{}}
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(l) }() // ends with close
	return b, nil
}

func (b *balancer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx) // the runner is done with it
}

// ServeHTTP forwards r to the next gateway that accepts the connection.
func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	start := b.next.Add(1)
	var resp *http.Response
	for i := range uint64(len(b.backends)) {
		backend := b.backends[(start+i)%uint64(len(b.backends))]
		req, rerr := http.NewRequestWithContext(r.Context(), r.Method, backend+r.URL.RequestURI(), bytes.NewReader(body))
		if rerr != nil {
			http.Error(w, rerr.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err = b.client.Do(req)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	if err != nil {
		http.Error(w, "no gateway answered: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }() // copied below
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body) // the client sees a cut answer as its error
}
