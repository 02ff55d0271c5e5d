package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// post sends a JSON command to url with token and returns the status and body.
func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	return send(t, "POST", url, token, strings.NewReader(body))
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "redisgate.yaml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestTwoDatabasesOnOneServerAreConfined(t *testing.T) {
	rs := redistest.Start(t)
	file := writeConfig(t, fmt.Sprintf(`
rate_limits: { daily: 1000 }
databases:
  - name: a
    upstream: %[1]s/1
    tokens: [ "token-of-database-a-0123" ]
  - name: b
    upstream: %[1]s/2
    tokens: [ "token-of-database-b-0123" ]
`, rs.URL()))
	url, _ := startRun(t, "redisgate listening on", "--config", file, "--listen", "127.0.0.1:0", "--admin-listen", "")
	a, b := "token-of-database-a-0123", "token-of-database-b-0123"
	if code, body := post(t, url, b, `["SET","secret","of-b"]`); code != 200 {
		t.Fatalf("b SET: %d %s", code, body)
	}
	post(t, url, a, `["SET","mine","of-a"]`)
	for _, attack := range []string{
		`["EVAL","redis.call('select',2) return redis.call('get','secret')","0"]`,
		`["EVAL","return redis.call('swapdb',1,2)","0"]`,
		`["EVAL","return redis.call('flushall')","0"]`,
		`["EVAL","return redis.call('move','mine',2)","0"]`,
		`["EVAL","return redis.call('copy','mine','mine','db',2)","0"]`,
		`["EVAL","redis.call('select',15) return redis.call('keys','*')","0"]`,
		`["EVAL_RO","redis.call('select',2) return redis.call('get','secret')","0"]`,
		`["EVAL","return redis.call('publish','db2:news','forged')","0"]`,
	} {
		code, body := post(t, url, a, attack)
		if code != 400 || !strings.Contains(body, "The user executing the script can't") || strings.Contains(body, "of-b") {
			t.Errorf("%s: %d %s", attack, code, body)
		}
	}
	if code, body := post(t, url, a, `["FLUSHALL"]`); code != 200 || body != `{"result":"OK"}` {
		t.Errorf("FLUSHALL: %d %s", code, body)
	}
	if code, body := post(t, url, b, `["GET","secret"]`); code != 200 || body != `{"result":"of-b"}` {
		t.Errorf("b's key after a's attacks: %d %s", code, body)
	}
	// The limiter's state is in logical database 15, out of both tenants' reach.
	if n := rs.MustDo("EVAL", "redis.call('select',15) return redis.call('dbsize')", "0"); n == int64(0) {
		t.Error("no limiter state in logical database 15")
	}
	// COPY within the database still works: as a script, since the confined user cannot COPY.
	post(t, url, a, `["SET","src","v"]`)
	if code, body := post(t, url, a, `["COPY","src","dst"]`); code != 200 || body != `{"result":1}` {
		t.Errorf("COPY: %d %s", code, body)
	}
}

func TestConfinementRefusedStopsTheStart(t *testing.T) {
	rs := redistest.Start(t)
	rs.MustDo("ACL", "SETUSER", "operator", "on", ">operator-password", "~*", "&*", "+@all", "-acl")
	upstream := strings.Replace(rs.URL(), "redis://", "redis://operator:operator-password@", 1)
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := run(ctx, []string{"--listen", "127.0.0.1:0", "--admin-listen", "", "--upstream", upstream, "--token", "confine-test-token-0123"},
		testEnv(nil), io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--isolation acl: redisgate could not confine the connections of database default") ||
		!strings.Contains(stderr.String(), "--isolation off") || strings.Contains(stderr.String(), "operator-password") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	// With --isolation off the operator's choice is respected.
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--admin-listen", "", "--upstream", upstream,
		"--token", "confine-test-token-0123", "--isolation", "off")
	if code, body := post(t, url, "confine-test-token-0123", `["PING"]`); code != 200 {
		t.Errorf("--isolation off: %d %s", code, body)
	}
}
