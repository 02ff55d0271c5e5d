package rest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redisgate/redisgate/lambda/rest"
)

// step is how the scripted server answers one attempt.
type step struct {
	status int           // answer with this status and a JSON body
	drop   bool          // read the request, then close the connection without answering
	sleep  time.Duration // wait this long before answering (the client's attempt times out first)
}

// scripted starts an HTTP server answering attempt i with steps[i] (the last step repeats) and
// counts the attempts. It stands for the network and the gateway's failure answers, which a
// client must survive whatever Redis does: the retry policy is about HTTP, not Redis.
func scripted(t *testing.T, steps ...step) (url string, attempts *atomic.Int64) {
	attempts = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		i := int(attempts.Add(1)) - 1
		s := steps[min(i, len(steps)-1)]
		switch {
		case s.drop:
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		case s.sleep > 0:
			select {
			case <-time.After(s.sleep):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if s.status == 429 {
			w.Header().Set("Retry-After", "7")
		}
		if s.status == 0 || s.status == 200 {
			if r.URL.Path == "/pipeline" {
				io.WriteString(w, `[{"result":"YQ=="},{"result":"Yg=="}]`)
				return
			}
			io.WriteString(w, `{"result":"T0s="}`)
			return
		}
		w.WriteHeader(s.status)
		io.WriteString(w, `{"error":"ERR scripted `+http.StatusText(s.status)+`"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, attempts
}

// TestRetryPolicy checks which failures are retried: any request the gateway cannot have run
// (503), and reads whatever happened; never a write whose outcome is unknown (502, 504, a
// dropped connection, a timed-out attempt), nor a definite answer (4xx).
func TestRetryPolicy(t *testing.T) {
	get := func(c *rest.Client, ctx context.Context) error { _, err := c.Do(ctx, "GET", "k"); return err }
	set := func(c *rest.Client, ctx context.Context) error { _, err := c.Do(ctx, "SET", "k", "v"); return err }
	incr := func(c *rest.Client, ctx context.Context) error { _, err := c.Incr(ctx, "k"); return err }
	readPipe := func(c *rest.Client, ctx context.Context) error {
		_, err := c.Pipeline(ctx, rest.Cmd{"GET", "a"}, rest.Cmd{"HGET", "b", "f"})
		return err
	}
	writePipe := func(c *rest.Client, ctx context.Context) error {
		_, err := c.Pipeline(ctx, rest.Cmd{"GET", "a"}, rest.Cmd{"INCR", "b"})
		return err
	}
	slow := step{sleep: time.Second}
	tests := []struct {
		name         string
		call         func(*rest.Client, context.Context) error
		steps        []step
		wantAttempts int64
		wantStatus   int  // of the *rest.Error returned; 0: no *rest.Error
		wantOK       bool // the call succeeds
		wantTimeout  bool // the error is rest.ErrAttemptTimeout
	}{
		{name: "503 write retried", call: set, steps: []step{{status: 503}, {status: 200}}, wantAttempts: 2, wantOK: true},
		{name: "503 until retries run out", call: incr, steps: []step{{status: 503}}, wantAttempts: 3, wantStatus: 503},
		{name: "502 write not retried", call: set, steps: []step{{status: 502}, {status: 200}}, wantAttempts: 1, wantStatus: 502},
		{name: "504 write not retried", call: incr, steps: []step{{status: 504}, {status: 200}}, wantAttempts: 1, wantStatus: 504},
		{name: "502 read retried", call: get, steps: []step{{status: 502}, {status: 200}}, wantAttempts: 2, wantOK: true},
		{name: "504 read retried", call: get, steps: []step{{status: 504}, {status: 504}, {status: 200}}, wantAttempts: 3, wantOK: true},
		{name: "dropped write not retried", call: set, steps: []step{{drop: true}, {status: 200}}, wantAttempts: 1},
		{name: "dropped read retried", call: get, steps: []step{{drop: true}, {status: 200}}, wantAttempts: 2, wantOK: true},
		{name: "timed-out write not retried", call: set, steps: []step{slow, {status: 200}}, wantAttempts: 1, wantTimeout: true},
		{name: "timed-out read retried", call: get, steps: []step{slow, {status: 200}}, wantAttempts: 2, wantOK: true},
		{name: "429 not retried", call: get, steps: []step{{status: 429}, {status: 200}}, wantAttempts: 1, wantStatus: 429},
		{name: "400 not retried", call: get, steps: []step{{status: 400}, {status: 200}}, wantAttempts: 1, wantStatus: 400},
		{name: "401 not retried", call: set, steps: []step{{status: 401}, {status: 200}}, wantAttempts: 1, wantStatus: 401},
		{name: "pipeline of reads retried", call: readPipe, steps: []step{{status: 502}, {status: 200}}, wantAttempts: 2, wantOK: true},
		{name: "pipeline with a write not retried", call: writePipe, steps: []step{{status: 502}, {status: 200}}, wantAttempts: 1, wantStatus: 502},
		{name: "pipeline 503 retried", call: writePipe, steps: []step{{status: 503}, {status: 200}}, wantAttempts: 2, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, attempts := scripted(t, tt.steps...)
			c := newClient(t, url, rest.Options{Token: "t", Timeout: 150 * time.Millisecond, Backoff: time.Millisecond})
			err := tt.call(c, ctxT(t))
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d (err %v)", got, tt.wantAttempts, err)
			}
			if (err == nil) != tt.wantOK {
				t.Fatalf("err = %v, want success: %v", err, tt.wantOK)
			}
			var e *rest.Error
			if errors.As(err, &e) != (tt.wantStatus != 0) || (e != nil && e.Status != tt.wantStatus) {
				t.Errorf("err = %#v, want status %d", err, tt.wantStatus)
			}
			if e != nil && e.Status == 429 && e.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %v, want 7s", e.RetryAfter)
			}
			if errors.Is(err, rest.ErrAttemptTimeout) != tt.wantTimeout {
				t.Errorf("err = %v, want ErrAttemptTimeout: %v", err, tt.wantTimeout)
			}
		})
	}
}

// TestRefusedConnectionRetried retries a write whose connection was refused: it cannot have
// been sent. The first dial goes to a closed port.
func TestRefusedConnectionRetried(t *testing.T) {
	url, attempts := scripted(t, step{status: 200})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	var dials atomic.Int64
	tr := rest.NewTransport()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			addr = closed
		}
		return dial(ctx, network, addr)
	}
	c := newClient(t, url, rest.Options{Token: "t", Backoff: time.Millisecond, HTTPClient: &http.Client{Transport: tr}})
	if _, err := c.Do(ctxT(t), "INCR", "k"); err != nil {
		t.Fatalf("Incr after a refused connection: %v", err)
	}
	if dials.Load() != 2 || attempts.Load() != 1 {
		t.Errorf("%d dials, %d requests served; want 2 and 1", dials.Load(), attempts.Load())
	}

	// With no server at all, the retries run out and the error says why.
	c = newClient(t, "http://"+closed, rest.Options{Token: "t", Backoff: time.Millisecond})
	if _, err := c.Incr(ctxT(t), "k"); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Incr with no server: %v, want connection refused", err)
	}
}

// TestCallerDeadline ends a request at the caller's deadline (a Lambda invocation's), without retries past it.
func TestCallerDeadline(t *testing.T) {
	url, attempts := scripted(t, step{sleep: 2 * time.Second})
	c := newClient(t, url, rest.Options{Token: "t", Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.Get(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rest.ErrAttemptTimeout) {
		t.Errorf("err = %v, want the caller's deadline", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond || attempts.Load() != 1 {
		t.Errorf("returned after %v and %d attempts, want at the deadline after 1", el, attempts.Load())
	}
}
