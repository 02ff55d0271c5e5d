package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestRESPListener starts redisgate with --resp-listen: a go-redis client uses it with the
// token, and a command under way at SIGTERM is answered before the process exits 0.
func TestRESPListener(t *testing.T) {
	rs := redistest.Start(t)
	const token = "resp-listen-token-0123456789"
	cmd := exec.Command(os.Args[0], "--listen", "127.0.0.1:0", "--resp-listen", "127.0.0.1:0", "--upstream", rs.URL(),
		"--token", token, "--admin-listen", "", "--log-level", "error", "--isolation", "off", "--resp-max-pins", "1")
	cmd.Env = append(os.Environ(), "REDISGATE_AS_MAIN=1")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	addr := ""
	for addr == "" && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "redis protocol on redis://"); ok {
			addr, _, _ = strings.Cut(rest, " ")
		}
	}
	if addr == "" {
		t.Fatal("no redis protocol line in the banner")
	}
	go io.Copy(io.Discard, out)
	c := redis.NewClient(&redis.Options{Addr: addr, Password: token, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := rs.MustDo("GET", "k"); got != "v" {
		t.Errorf("Redis has k=%v", got)
	}
	// --resp-max-pins 1: one client in WATCH at a time.
	w1, w2 := c.Conn(), c.Conn()
	if err := w1.Do(ctx, "WATCH", "k").Err(); err != nil {
		t.Fatal(err)
	}
	if err := w2.Do(ctx, "WATCH", "k").Err(); err == nil || !strings.Contains(err.Error(), "too many clients are in WATCH") {
		t.Errorf("a second WATCH with --resp-max-pins 1: %v", err)
	}
	w1.Do(ctx, "UNWATCH")
	if err := w2.Do(ctx, "WATCH", "k").Err(); err != nil {
		t.Errorf("WATCH once the first client unwatched: %v", err)
	}
	w1.Close()
	w2.Close()
	done := make(chan error, 1)
	go func() { done <- c.BLPop(ctx, 500*time.Millisecond, "empty").Err() }()
	time.Sleep(150 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != redis.Nil {
		t.Errorf("BLPOP under way at SIGTERM: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestRESPListenerTLS: with --tls-cert and --tls-key the Redis-protocol listener speaks TLS
// (rediss://), as the HTTP one does: go-redis over TLS runs commands, a pipeline and pub/sub;
// a plain-text client is not served.
func TestRESPListenerTLS(t *testing.T) {
	rs := redistest.Start(t)
	certFile, keyFile, roots := selfSigned(t)
	const token = "resp-tls-token-0123456789"
	_, lines := startRun(t, "redis protocol on", "--listen", "127.0.0.1:0", "--resp-listen", "127.0.0.1:0", "--upstream", rs.URL(),
		"--token", token, "--tls-cert", certFile, "--tls-key", keyFile, "--admin-listen", "", "--log-level", "error", "--isolation", "off")
	addr := ""
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "redis protocol on rediss://"); ok {
			addr, _, _ = strings.Cut(rest, " ")
		}
	}
	if addr == "" {
		t.Fatalf("no rediss:// line in the banner: %q", lines)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr, Password: token, MaxRetries: -1, TLSConfig: &tls.Config{RootCAs: roots}})
	defer c.Close()
	if err := c.Set(ctx, "k", "over tls", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := rs.MustDo("GET", "k"); got != "over tls" {
		t.Errorf("Redis has k=%v", got)
	}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for range 100 {
			p.Incr(ctx, "n")
		}
		return nil
	})
	if err != nil || cmds[99].(*redis.IntCmd).Val() != 100 {
		t.Errorf("pipeline over TLS: %v", err)
	}
	sub := c.Subscribe(ctx, "ch")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	c.Publish(ctx, "ch", "hi")
	if m, err := sub.ReceiveMessage(ctx); err != nil || m.Payload != "hi" {
		t.Errorf("pub/sub over TLS: %v %v", m, err)
	}
	plain := redis.NewClient(&redis.Options{Addr: addr, Password: token, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Error("a plain-text client was served on the TLS listener")
	}
}
