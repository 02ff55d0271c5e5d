package respserver_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIORedis runs ioredis from npm (pinned in testdata/node/package-lock.json, installed
// with npm ci by make deps, or by this test when missing) against the listener: commands, a
// pipeline of 2,000 commands, MULTI, WATCH and pub/sub (testdata/node/ioredis.mjs).
func TestIORedis(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: this test needs Node.js 20 or later and npm")
	}
	dir := filepath.Join("testdata", "node")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ioredis")); err != nil {
		npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	l := start(t)
	cmd := exec.CommandContext(ctx, node, "ioredis.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDISGATE_ADDR="+l.addr, "REDISGATE_TOKEN="+rwToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ioredis: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ioredis: 5 passed, 0 failed") {
		t.Fatalf("ioredis did not pass every check:\n%s", out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
