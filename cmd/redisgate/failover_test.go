package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestFailoverMovesEveryConnection fails a Sentinel-managed leader over gracefully (the old
// leader stays up, as a replica) and checks that the gateway moves all it keeps on the
// leader, not only its command pools: rate-limit state (which a replica refuses to write),
// the read cache's tracked and invalidation connections, and the pub/sub connection.
func TestFailoverMovesEveryConnection(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	sentinels := redistest.StartSentinels(t, 3, "gw", leader)
	var addrs []string
	for _, s := range sentinels {
		addrs = append(addrs, s.Addr)
	}
	redistest.WaitFor(t, 10*time.Second, func() bool {
		v, err := leader.Do("INFO", "replication")
		return err == nil && strings.Contains(fmt.Sprint(v), "connected_slaves:1")
	}, "replica connected")
	token := "failover-token-0123456789"
	url, _ := startRun(t, "redisgate listening on", "--listen", "127.0.0.1:0", "--admin-listen", "",
		"--sentinel", strings.Join(addrs, ","), "--master-name", "gw", "--token", token,
		"--cache=true", "--limit-token", "100000/s:100000", "--limit-fail-closed=true")

	names := []string{"redisgate-limiter", "redisgate-cache", "redisgate-invalidate", "redisgate-pubsub"}
	clientsOn := func(s *redistest.Server) map[string]bool {
		list, _ := s.MustDo("CLIENT", "LIST").(string)
		on := map[string]bool{}
		for _, n := range names {
			on[n] = regexp.MustCompile(`name=` + n + `( |$)`).MatchString(list)
		}
		return on
	}
	redistest.WaitFor(t, 5*time.Second, func() bool {
		on := clientsOn(leader)
		return on["redisgate-cache"] && on["redisgate-invalidate"] && on["redisgate-pubsub"] && on["redisgate-limiter"]
	}, "the gateway's connections on the first leader")

	events := subscribe(t, url+"/subscribe/news", token)
	if code, body := get(t, url+"/set/k/v1", token); code != 200 {
		t.Fatalf("set before failover: %d %s", code, body)
	}
	if code, body := get(t, url+"/get/k", token); code != 200 || body != `{"result":"v1"}` {
		t.Fatalf("get before failover: %d %s", code, body)
	}

	// The Sentinels refuse (NOGOODSLAVE) until they have seen the replica.
	sentinel := &redistest.Server{Addr: sentinels[0].Addr}
	redistest.WaitFor(t, 15*time.Second, func() bool {
		_, err := sentinel.Do("SENTINEL", "FAILOVER", "gw")
		return err == nil
	}, "SENTINEL FAILOVER accepted")
	redistest.WaitFor(t, 15*time.Second, func() bool {
		v, err := sentinel.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "gw")
		a, _ := v.([]any)
		return err == nil && len(a) == 2 && net.JoinHostPort(fmt.Sprint(a[0]), fmt.Sprint(a[1])) == replica.Addr
	}, "the Sentinels naming the new leader")
	// Sentinel demotes a live old leader only some 10 s later, taking writes meanwhile (and
	// losing them): demote it now, as a replica refuses writes a lingering connection would make.
	host, port, _ := net.SplitHostPort(replica.Addr)
	leader.MustDo("REPLICAOF", host, port)
	redistest.WaitFor(t, 10*time.Second, func() bool {
		v, err := leader.Do("INFO", "replication")
		return err == nil && strings.Contains(fmt.Sprint(v), "master_link_status:up")
	}, "the old leader replicating from the new one")
	// Writes succeed through the gateway once it follows the new leader.
	redistest.WaitFor(t, 10*time.Second, func() bool {
		code, _ := get(t, url+"/set/k/v2", token)
		return code == 200
	}, "a write through the gateway after the failover")
	redistest.WaitFor(t, 5*time.Second, func() bool {
		on, old := clientsOn(replica), clientsOn(leader)
		for _, n := range names {
			if !on[n] || old[n] {
				return false
			}
		}
		return true
	}, "every connection moved to the new leader")

	// The limiter decides (fail-closed would answer 503 if its Redis refused the write).
	for i := range 20 {
		if code, body := get(t, url+"/get/k", token); code != 200 || body != `{"result":"v2"}` {
			t.Fatalf("read %d after failover: %d %s", i, code, body)
		}
	}
	// A write straight to the new leader reaches the cache.
	replica.MustDo("SET", "k", "v3")
	redistest.WaitFor(t, 2*time.Second, func() bool {
		_, body := get(t, url+"/get/k", token)
		return body == `{"result":"v3"}`
	}, "the direct write seen through the cache")
	// Messages published after the failover reach the subscriber.
	if code, body := get(t, url+"/publish/news/after", token); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	select {
	case ev := <-events:
		if !strings.Contains(ev, "after") {
			t.Errorf("event %q, want the message published after the failover", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("no message reached the subscriber after the failover")
	}
}

// subscribe opens an SSE stream at url and returns its message events (data lines other
// than subscription confirmations); the stream closes when the test ends.
func subscribe(t *testing.T, url, token string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		cancel()
		t.Fatalf("subscribe: %d", res.StatusCode)
	}
	out := make(chan string, 16)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		res.Body.Close()
		<-done
	})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.HasPrefix(d, "message,") {
				out <- d
			}
		}
	}()
	return out
}
