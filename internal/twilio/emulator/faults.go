package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Fault makes the next matching requests fail, as a real Twilio or the
// network between might. Faults are taken in the order they were added;
// each request takes at most one.
type Fault struct {
	// Op is the operation it applies to; "" for any.
	Op Op `json:"op,omitempty"`
	// Times is how many requests it affects; 1 when 0.
	Times int `json:"times,omitempty"`
	// Status is the HTTP status to answer with (429, 500, 503, …), with
	// Twilio's error body. 0 answers normally (useful with Delay alone).
	Status int `json:"status,omitempty"`
	// Code is the Twilio error code in the body; 20000+Status when 0
	// (20429 Too Many Requests, 20500 Internal Server Error, …).
	Code int `json:"code,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header when > 0.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Delay holds the request this long before anything else happens; the
	// request is then carried out even if the caller has gone. In JSON it
	// is in nanoseconds.
	Delay time.Duration `json:"delay,omitempty"`
	// AfterApply carries the request out first and only then fails it: the
	// change is made but the caller never learns so (a lost response).
	AfterApply bool `json:"afterApply,omitempty"`
	// Drop closes the connection without any response instead of
	// answering with Status.
	Drop bool `json:"drop,omitempty"`
}

type faultState struct {
	Fault
	left int
}

// Inject adds a fault.
func (e *Emulator) Inject(f Fault) error {
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("emulator: fault status %d is not an HTTP error", f.Status)
	}
	if f.Status == 0 && !f.Drop && f.Delay <= 0 {
		return errors.New("emulator: a fault needs a Status, Drop or Delay")
	}
	switch f.Op {
	case "", OpCreate, OpList, OpFetch, OpUpdate:
	default:
		return fmt.Errorf("emulator: unknown op %q", f.Op)
	}
	if f.Times <= 0 {
		f.Times = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &faultState{Fault: f, left: f.Times})
	return nil
}

// PendingFaults returns how many injected requests are still to fail.
func (e *Emulator) PendingFaults() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, f := range e.faults {
		n += f.left
	}
	return n
}

func (e *Emulator) takeFault(op Op) *Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		f.left--
		if f.left <= 0 {
			e.faults = append(e.faults[:i], e.faults[i+1:]...)
		}
		taken := f.Fault
		return &taken
	}
	return nil
}

func (e *Emulator) answerFault(w http.ResponseWriter, rec int, f *Fault) {
	if f.Drop {
		e.setStatus(rec, 0)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // no hijacking (HTTP/2): abort the stream
	}
	code := f.Code
	if code == 0 {
		code = 20000 + f.Status
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	e.setStatus(rec, f.Status)
	writeError(w, f.Status, code, http.StatusText(f.Status))
}

// Request is one request the emulator received.
type Request struct {
	Op     Op         `json:"op"`
	Method string     `json:"method"`
	Path   string     `json:"path"`
	SID    string     `json:"sid,omitempty"` // the account in the path
	Form   url.Values `json:"form,omitempty"`
	// Status is the HTTP status answered; 0 for a dropped connection or
	// while the request is being served.
	Status int `json:"status"`
}

// Requests returns the requests received so far, oldest first.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, len(e.requests))
	for i, r := range e.requests {
		r.Form = cloneValues(r.Form)
		out[i] = r
	}
	return out
}

// Count returns how many requests of op were received (answered or not).
func (e *Emulator) Count(op Op) int {
	n := 0
	for _, r := range e.Requests() {
		if r.Op == op {
			n++
		}
	}
	return n
}

func (e *Emulator) record(op Op, r *http.Request, sid string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, Request{
		Op: op, Method: r.Method, Path: r.URL.Path, SID: sid, Form: cloneValues(r.Form),
	})
	return len(e.requests) - 1
}

func (e *Emulator) setStatus(rec, status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rec < len(e.requests) { // Reset may have cleared the log meanwhile
		e.requests[rec].Status = status
	}
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// serveControl serves /_emulator/…, for tests and the dev stack that run the
// emulator as a separate process. Only the main account may use it.
func (e *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != e.mainSID || !equalSecret(pass, e.AuthToken()) {
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	switch {
	case r.URL.Path == "/_emulator/accounts" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, stateDoc{Accounts: e.Accounts()})
	case r.URL.Path == "/_emulator/requests" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"requests": e.Requests()})
	case r.URL.Path == "/_emulator/faults" && r.Method == http.MethodPost:
		var f Fault
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeError(w, http.StatusBadRequest, 20001, "Invalid fault: "+err.Error())
			return
		}
		if err := e.Inject(f); err != nil {
			writeError(w, http.StatusBadRequest, 20001, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, f)
	case r.URL.Path == "/_emulator/reset" && r.Method == http.MethodPost:
		if err := e.Reset(); err != nil {
			writeError(w, http.StatusInternalServerError, 20500, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	}
}
