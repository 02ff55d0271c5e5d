package replicaset_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/replicaset"
)

// brokenReplica is a scripted peer posing as a healthy replica: it answers the handshake and
// INFO replication, and drops the connection on any other command, once it has read it.
func brokenReplica(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	info := "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_replid:" + strings.Repeat("a", 40) + "\r\nmaster_repl_offset:10\r\n"
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					args, err := readCommand(r)
					if err != nil {
						return
					}
					switch strings.ToUpper(args[0]) {
					case "CLIENT":
						io.WriteString(c, "+OK\r\n")
					case "INFO":
						fmt.Fprintf(c, "$%d\r\n%s\r\n", len(info), info)
					default:
						return // the command was written and read: the connection breaks before its answer
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not a command: %q %v", line, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	args := make([]string, n)
	for i := range args {
		if line, err = r.ReadString('\n'); err != nil {
			return nil, err
		}
		size, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

// TestRetryKeepsTheBatchContract checks a read whose replica's connection broke after the
// read was written, and whose retry on the leader could not be sent: its error says it broke,
// never "unavailable", which would tell the caller that the batch, already written, may be
// sent again.
func TestRetryKeepsTheBatchContract(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // the leader: nothing listens there
	s := newSet(t, replicaset.Options{Leader: "redis://" + down, Replicas: []string{"redis://" + brokenReplica(t)}})
	if rs := s.Replicas(); len(rs) != 1 || !rs[0].Healthy {
		t.Fatalf("scripted replica not healthy: %+v", rs)
	}
	b := pool.NewBatch(1)
	b.Add([]byte("GET"), []byte("k"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = s.Do(ctx, b, replicaset.Request{})
	if !errors.Is(err, pool.ErrBroken) || errors.Is(err, pool.ErrUnavailable) {
		t.Fatalf("read broken on the replica, leader down: %v; want ErrBroken and not ErrUnavailable", err)
	}
	if c := s.Counters(); c.Retries != 1 {
		t.Errorf("%d retries, want 1 (on the leader)", c.Retries)
	}
}
