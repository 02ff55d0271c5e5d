package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/gatewaytest"
	"github.com/redisgate/redisgate/lambda/lambdatest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

var quiet = slog.New(slog.DiscardHandler)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "lambda", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestHello calls the handler as lambda.Start would, with fixture events against a real gateway.
func TestHello(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h, err := newHandler(env(map[string]string{"REDISGATE_URL": gw.URL, "REDISGATE_TOKEN": gatewaytest.Token}), quiet)
	if err != nil {
		t.Fatal(err)
	}
	var e events.APIGatewayV2HTTPRequest
	json.Unmarshal(fixture(t, "apigw-http.json"), &e)
	res, err := h(context.Background(), e)
	if err != nil || res.StatusCode != 200 || res.Body != `{"message":"hello","ip":"198.51.100.20"}` {
		t.Fatalf("first: %d %s %v", res.StatusCode, res.Body, err)
	}
	if res.Headers["RateLimit-Policy"] != `"ip";q=1;w=5` || res.Headers["Content-Type"] != "application/json" {
		t.Errorf("first headers: %v", res.Headers)
	}
	res, err = h(context.Background(), e)
	if err != nil || res.StatusCode != 429 || res.Headers["Retry-After"] != "5" {
		t.Errorf("second: %d %v %v, want 429 with Retry-After 5", res.StatusCode, res.Headers, err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"no gateway", map[string]string{}, "REDISGATE_URL"},
		{"bad rate", map[string]string{"REDISGATE_URL": "http://gw", "REDISGATE_TOKEN": "t", "HELLO_RATE": "fast"}, "HELLO_RATE"},
		{"bad url", map[string]string{"REDISGATE_URL": "gw:8079", "REDISGATE_TOKEN": "t"}, "URL"},
		{"ok", map[string]string{"REDISGATE_URL": "http://gw", "REDISGATE_TOKEN": "t", "HELLO_RATE": "10/m:5"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newHandler(env(tt.env), quiet)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("newHandler = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestBootstrap builds the function as make lambda does and drives it through the Lambda
// Runtime API, so the real lambda.Start loop decodes the events, applies their deadlines and
// posts the answers.
func TestBootstrap(t *testing.T) {
	bin := lambdatest.Build(t, "github.com/redisgate/redisgate/cmd/hello")
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	rt := lambdatest.Start(t, bin, "REDISGATE_URL="+gw.URL, "REDISGATE_TOKEN="+gatewaytest.Token)

	tests := []struct {
		fixture    string
		wantStatus int
		wantIP     string
	}{
		{"apigw-http.json", 200, "198.51.100.20"},
		{"apigw-http.json", 429, ""},
		{"function-url.json", 200, "198.51.100.30"},
		{"function-url.json", 429, ""},
		{"apigw-http.json", 429, ""},
	}
	for i, tt := range tests {
		res, err := rt.Invoke(fixture(t, tt.fixture), 3*time.Second)
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		var ans events.APIGatewayV2HTTPResponse
		if err := res.Decode(&ans); err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		if ans.StatusCode != tt.wantStatus || ans.Headers["RateLimit"] == "" || ans.Headers["X-RateLimit-Limit"] != "1" {
			t.Errorf("invocation %d (%s): %d %v, want %d with rate-limit headers", i, tt.fixture, ans.StatusCode, ans.Headers, tt.wantStatus)
		}
		var body struct{ IP, Error string }
		json.Unmarshal([]byte(ans.Body), &body)
		if tt.wantStatus == 200 && body.IP != tt.wantIP {
			t.Errorf("invocation %d: body %s, want ip %s", i, ans.Body, tt.wantIP)
		}
		if tt.wantStatus == 429 && (ans.Headers["Retry-After"] == "" || !strings.Contains(body.Error, "ip limit 1/5s:1")) {
			t.Errorf("invocation %d: 429 without Retry-After or error: %v %s", i, ans.Headers, ans.Body)
		}
	}
	if n := gw.Accepted(); n != 1 {
		t.Errorf("gateway accepted %d connections over %d invocations, want 1", n, len(tests))
	}
	t.Logf("init (process start to first invocation request): %v", rt.InitDuration())
}

// TestBootstrapInitFailure stops the function at init, with a message, when it has no gateway.
func TestBootstrapInitFailure(t *testing.T) {
	bin := lambdatest.Build(t, "github.com/redisgate/redisgate/cmd/hello")
	rt := lambdatest.Start(t, bin)
	exited, err := rt.Wait(10 * time.Second)
	if !exited || err == nil {
		t.Fatalf("function without REDISGATE_URL: exited %v, %v; want a failure", exited, err)
	}
	if out := rt.Output(); !strings.Contains(out, "init failed") || !strings.Contains(out, "REDISGATE_URL") {
		t.Errorf("init failure output: %s", out)
	}
}
