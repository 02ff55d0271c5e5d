// Package lambdatest builds a Lambda function's bootstrap binary and runs it under an in-test
// Lambda Runtime API server, so the function's real lambda.Start loop serves the invocations.
package lambdatest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// Build compiles the main package pkg as a Lambda bootstrap (-tags lambda.norpc, as make lambda
// does, for this machine's OS and architecture) into a temporary directory and returns its path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command(goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lambdatest: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Response is what the function answered to one invocation.
type Response struct {
	// Payload is the body posted to /response, nil when the invocation failed.
	Payload []byte
	// Error is the body posted to /error (errorMessage, errorType), nil when it succeeded.
	Error *InvocationError
}

// InvocationError is the error a function reports for an invocation.
type InvocationError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// invocation is one event waiting to be fetched by the function, and where its answer goes.
type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	done     chan Response
}

// Runtime is a Lambda Runtime API server and the bootstrap process it serves.
type Runtime struct {
	t       testing.TB
	srv     *httptest.Server
	pending chan *invocation
	mu      sync.Mutex
	waiting map[string]*invocation // fetched, not yet answered
	seq     int
	started time.Time     // when the process was started
	ready   time.Duration // from start to the first GET …/next: the function's init
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	out     redistest.LogBuffer
}

// Start runs the bootstrap binary with env (KEY=value) added to a Lambda-like environment
// (AWS_LAMBDA_RUNTIME_API pointing at the test server, _HANDLER, AWS_LAMBDA_FUNCTION_NAME…)
// and stops it when the test ends.
func Start(t testing.TB, bootstrap string, env ...string) *Runtime {
	t.Helper()
	r := &Runtime{t: t, pending: make(chan *invocation), waiting: map[string]*invocation{}, exited: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	name := filepath.Base(filepath.Dir(bootstrap))
	r.cmd = exec.Command(bootstrap)
	r.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(r.srv.URL, "http://"),
		"_HANDLER=bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]0123456789abcdef",
		"AWS_REGION=eu-west-1",
		"AWS_DEFAULT_REGION=eu-west-1",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(bootstrap),
		"TZ=:UTC",
	}, env...)
	r.cmd.Stdout = &r.out
	r.cmd.Stderr = &r.out
	r.started = time.Now()
	if err := r.cmd.Start(); err != nil {
		r.srv.Close()
		t.Fatalf("lambdatest: start %s: %v", bootstrap, err)
	}
	go func() {
		r.exitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.exited
		r.srv.Close()
		if t.Failed() {
			t.Logf("lambdatest: function output:\n%s", r.Output())
		}
	})
	return r
}

// InitDuration returns how long the function took from its process start to its first request
// for an invocation (its init phase), 0 before that request.
func (r *Runtime) InitDuration() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// Output returns what the function has printed so far.
func (r *Runtime) Output() string { return r.out.String() }

// Wait waits up to timeout for the function's process to exit and reports whether it did, with
// its exit error.
func (r *Runtime) Wait(timeout time.Duration) (exited bool, err error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.exited:
		return true, r.exitErr
	case <-t.C:
		return false, nil
	}
}

// Invoke hands event to the function with a deadline of timeout from now (the context deadline
// its handler sees) and waits for its answer.
func (r *Runtime) Invoke(event []byte, timeout time.Duration) (Response, error) {
	r.mu.Lock()
	r.seq++
	inv := &invocation{id: fmt.Sprintf("req-%06d", r.seq), event: event, deadline: time.Now().Add(timeout), done: make(chan Response, 1)}
	r.mu.Unlock()
	deadline := time.NewTimer(timeout + 5*time.Second)
	defer deadline.Stop()
	select {
	case r.pending <- inv:
	case <-r.exited:
		return Response{}, fmt.Errorf("lambdatest: function exited (%v) before taking the invocation", r.exitErr)
	case <-deadline.C:
		return Response{}, fmt.Errorf("lambdatest: function did not ask for the next invocation")
	}
	select {
	case res := <-inv.done:
		return res, nil
	case <-r.exited:
		return Response{}, fmt.Errorf("lambdatest: function exited (%v) during the invocation", r.exitErr)
	case <-deadline.C:
		return Response{}, fmt.Errorf("lambdatest: no answer to invocation %s", inv.id)
	}
}

// serve implements the Runtime API: GET …/invocation/next, POST …/invocation/{id}/response
// and …/{id}/error, POST …/init/error.
func (r *Runtime) serve(w http.ResponseWriter, req *http.Request) {
	const prefix = "/2018-06-01/runtime/"
	path, ok := strings.CutPrefix(req.URL.Path, prefix)
	if !ok {
		http.NotFound(w, req)
		return
	}
	body, _ := io.ReadAll(req.Body)
	switch {
	case req.Method == http.MethodGet && path == "invocation/next":
		r.mu.Lock()
		if r.ready == 0 {
			r.ready = time.Since(r.started)
		}
		r.mu.Unlock()
		select {
		case inv := <-r.pending:
			r.mu.Lock()
			r.waiting[inv.id] = inv
			r.mu.Unlock()
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:test")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-65f0a1b2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0")
			w.Write(inv.event)
		case <-req.Context().Done():
		}
	case req.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		id, kind, _ := strings.Cut(strings.TrimPrefix(path, "invocation/"), "/")
		r.mu.Lock()
		inv := r.waiting[id]
		delete(r.waiting, id)
		r.mu.Unlock()
		if inv == nil {
			http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		res := Response{Payload: body}
		if kind == "error" {
			res = Response{Error: &InvocationError{}}
			json.Unmarshal(body, res.Error)
		}
		inv.done <- res
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"OK"}`)
	case req.Method == http.MethodPost && path == "init/error":
		r.out.Write([]byte("lambdatest: init error: " + string(body) + "\n"))
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, req)
	}
}

// Decode unmarshals a successful invocation's payload into v.
func (res Response) Decode(v any) error {
	if res.Error != nil {
		return fmt.Errorf("invocation failed: %s: %s", res.Error.Type, res.Error.Message)
	}
	return json.Unmarshal(res.Payload, v)
}
