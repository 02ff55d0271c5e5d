package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// startRun runs the gateway with args until the test ends; it returns its URL and the lines
// printed up to the one starting with last.
func startRun(t *testing.T, last string, args ...string) (url string, lines []string) {
	t.Helper()
	return startRunEnv(t, nil, last, args...)
}

// startRunEnv is startRun with the environment variables env.
func startRunEnv(t *testing.T, env map[string]string, last string, args ...string) (url string, lines []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, testEnv(env), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Errorf("exit code %d", c)
			}
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if u, ok := strings.CutPrefix(sc.Text(), "redisgate listening on "); ok {
			url = u
		}
		if strings.HasPrefix(sc.Text(), last) {
			go io.Copy(io.Discard, pr) // the rest, so that the gateway never blocks printing
			return url, lines
		}
	}
	t.Fatalf("gateway printed no URL: %q", lines)
	return "", nil
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	return send(t, "GET", url, token, nil)
}

// send makes a request with token and returns the status and body.
func send(t *testing.T, method, url, token string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestEmbeddedBackend(t *testing.T) {
	url, lines := startRun(t, "try:", "--listen", "127.0.0.1:0")
	out := strings.Join(lines, "\n")
	if !strings.Contains(out, "NOT persisted") {
		t.Errorf("no warning that data is not persisted: %s", out)
	}
	var token string
	for _, l := range lines {
		if tok, ok := strings.CutPrefix(l, "token:   "); ok {
			token, _, _ = strings.Cut(tok, " ")
		}
	}
	if len(token) < 16 {
		t.Fatalf("no generated token printed: %s", out)
	}
	if code, body := get(t, url+"/set/hello/world", token); code != 200 || body != `{"result":"OK"}` {
		t.Errorf("set: %d %s", code, body)
	}
	if code, body := get(t, url+"/get/hello", token); code != 200 || body != `{"result":"world"}` {
		t.Errorf("get: %d %s", code, body)
	}
	if code, _ := get(t, url+"/get/hello", "wrong-token-wrong-token"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
}

func TestUpstream(t *testing.T) {
	rs := redistest.Start(t)
	token := "upstream-token-0123456789"
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--upstream", rs.URL(), "--token", token)
	if code, body := get(t, url+"/incr/n", token); code != 200 || body != `{"result":1}` {
		t.Errorf("incr: %d %s", code, body)
	}
}

func TestBadConfigAndHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--upstream", "redis://127.0.0.1:1"}, testEnv(nil), io.Discard, &stderr); code != 2 {
		t.Errorf("missing token: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "token: required with upstream") {
		t.Errorf("stderr %q", stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"--help"}, testEnv(nil), io.Discard, &stderr); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "REDISGATE_UPSTREAM") {
		t.Errorf("help output %q", stderr.String())
	}
}

func TestAdminListener(t *testing.T) {
	rs := redistest.Start(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	token := "admin-test-token-0123456789"
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--upstream", rs.URL(), "--token", token, "--admin-listen", admin)
	if code, body := get(t, url+"/set/k/v", token); code != 200 {
		t.Fatalf("set: %d %s", code, body)
	}
	get(t, url+"/get/k", "wrong-token-wrong-token")
	fetch := func(path string) (int, string) {
		res, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := fetch("/healthz"); code != 200 || body != `{"status":"ok"}` {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := fetch("/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) || !strings.Contains(body, `"name":"default"`) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, body := fetch("/metrics")
	for _, want := range []string{
		`redisgate_requests_total{database="default",route="command",status="200"} 1`,
		`redisgate_requests_total{database="",route="command",status="401"} 1`,
		`redisgate_request_duration_seconds_count{route="command"} 2`,
		`redisgate_backend_connections{database="default",node="` + rs.Addr + `"} 4`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, token) {
		t.Error("/metrics shows the token")
	}
	if code, _ := fetch("/debug/pprof/"); code != 404 {
		t.Errorf("pprof served without --pprof: %d", code)
	}
	rs.Kill()
	redistest.WaitFor(t, 2*time.Second, func() bool { c, _ := fetch("/readyz"); return c == 503 }, "/readyz 503 with Redis down")
}

func TestPprofCmdlineHidesSecrets(t *testing.T) {
	rs := redistest.Start(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	token, roToken := "pprof-secret-token-0123456789", "pprof-secret-ro-token-0123456789"
	upstream := strings.Replace(rs.URL(), "redis://", "redis://default:upstream-password@", 1)
	rs.MustDo("CONFIG", "SET", "requirepass", "upstream-password")
	startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--upstream="+upstream, "--token", token,
		"--read-only-token="+roToken, "--admin-listen", admin, "--pprof")
	var res *http.Response
	redistest.WaitFor(t, 5*time.Second, func() bool {
		res, err = http.Get("http://" + admin + "/debug/pprof/cmdline")
		return err == nil
	}, "the admin listener")
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	got := string(b)
	for _, secret := range []string{token, roToken, "upstream-password"} {
		if strings.Contains(got, secret) {
			t.Errorf("/debug/pprof/cmdline shows a secret: %q", got)
		}
	}
	if !strings.Contains(got, "--pprof") || !strings.Contains(got, "--token\x00xxxxx") || !strings.Contains(got, "--read-only-token=xxxxx") {
		t.Errorf("/debug/pprof/cmdline = %q", got)
	}
}

func TestRedactArgs(t *testing.T) {
	in := []string{"--token", "s1", "-token=s2", "--read-only-token=s3", "--upstream", "rediss://u:s4@h:1/2",
		"--replica=redis://:s5@a:1,redis://b:2", "--limit-redis", "redis://%zz:s6@x", "--listen", "0.0.0.0:1", "--token"}
	got := strings.Join(redactArgs(in), " ")
	for _, s := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		if strings.Contains(got, s) {
			t.Errorf("redactArgs kept %s: %s", s, got)
		}
	}
	want := "--token xxxxx -token=xxxxx --read-only-token=xxxxx --upstream rediss://u:xxxxx@h:1/2 --replica=redis://:xxxxx@a:1,redis://b:2 --limit-redis xxxxx --listen 0.0.0.0:1 --token"
	if got != want {
		t.Errorf("redactArgs:\n got %s\nwant %s", got, want)
	}
}

// TestAdminListenerReplicated checks that a replicated database reports the same backend
// series as a single node, for each of its nodes, and its replicas in /readyz.
func TestAdminListenerReplicated(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	token := "admin-replicated-token-0123456789"
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--upstream", leader.URL(), "--replica", replica.URL(),
		"--consistency", "strong", "--token", token, "--admin-listen", admin)
	if code, body := get(t, url+"/set/k/v", token); code != 200 {
		t.Fatalf("set: %d %s", code, body)
	}
	fetch := func(path string) (int, string) {
		res, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	redistest.WaitFor(t, 5*time.Second, func() bool {
		code, body := fetch("/readyz")
		return code == 200 && strings.Contains(body, `"replicas":[{"addr":"`+replica.Addr+`","healthy":true`)
	}, "/readyz naming a healthy replica")
	_, body := fetch("/metrics")
	for _, node := range []string{leader.Addr, replica.Addr} {
		for _, series := range []string{"redisgate_backend_connections", "redisgate_backend_backlog", "redisgate_backend_writes_total", "redisgate_backend_batches_total"} {
			if want := series + `{database="default",node="` + node + `"} `; !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s…:\n%s", want, body)
			}
		}
	}
	// The leader holds 4 multiplexed and 2 acknowledged-write connections; the write went through them.
	for _, want := range []string{
		`redisgate_backend_connections{database="default",node="` + leader.Addr + `"} 6`,
		`redisgate_backend_connections{database="default",node="` + replica.Addr + `"} 4`,
		`redisgate_replica_healthy{database="default",replica="` + replica.Addr + `"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if m := regexp.MustCompile(`redisgate_backend_batches_total\{database="default",node="` + regexp.QuoteMeta(leader.Addr) + `"\} (\d+)`).FindStringSubmatch(body); m == nil || m[1] == "0" {
		t.Errorf("the leader's batches: %v, want the write counted", m)
	}
}
