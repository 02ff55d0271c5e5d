package pool_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// pipePeer is a scripted Redis reached over net.Pipe: every dial gets a fresh pipe whose
// far end serve drives, told which dial it is (1, 2, …). It does what a real server never
// does on cue.
type pipePeer struct {
	t     testing.TB
	serve func(dial int, c *peerConn)
	dials atomic.Int32
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newPipePeer(t testing.TB, serve func(dial int, c *peerConn)) *pipePeer {
	p := &pipePeer{t: t, serve: serve}
	t.Cleanup(func() {
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// dial is a pool.Options.Dialer.
func (p *pipePeer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	near, far := net.Pipe()
	p.mu.Lock()
	p.conns = append(p.conns, far)
	p.mu.Unlock()
	n := int(p.dials.Add(1))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer far.Close()
		p.serve(n, &peerConn{Conn: far, br: bufio.NewReader(far)})
	}()
	return near, nil
}

// options returns pool options that dial the peer.
func (p *pipePeer) options() pool.Options {
	return pool.Options{Addr: "peer:6379", Size: 1, Dialer: p.dial, DialTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

// peerConn is the peer's end of one connection.
type peerConn struct {
	net.Conn
	br *bufio.Reader
}

// command reads one command and returns its name and arguments.
func (c *peerConn) command() ([]string, error) {
	raw, err := resp.ReadReply(c.br, nil, 1<<20)
	if err != nil {
		return nil, err
	}
	_, _, n, rest, err := resp.Next(raw)
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range n {
		var a []byte
		if _, a, _, rest, err = resp.Next(rest); err != nil {
			return nil, err
		}
		args[i] = string(a)
	}
	return args, nil
}

// send writes each part with a write of its own: the pool reads them separately.
func (c *peerConn) send(parts ...string) error {
	for _, p := range parts {
		if _, err := c.Write([]byte(p)); err != nil {
			return err
		}
	}
	return nil
}

// handshake reads CLIENT SETNAME and answers it with reply.
func (c *peerConn) handshake(reply string) bool {
	if args, err := c.command(); err != nil || args[0] != "CLIENT" {
		return false
	}
	return c.send(reply) == nil
}

// serveKV answers GET with "v", SET with OK and anything else with PONG, until the connection ends.
func (c *peerConn) serveKV() {
	for {
		args, err := c.command()
		if err != nil {
			return
		}
		reply := "+PONG\r\n"
		switch args[0] {
		case "GET":
			reply = "$1\r\nv\r\n"
		case "SET":
			reply = "+OK\r\n"
		}
		if c.send(reply) != nil {
			return
		}
	}
}

// peerDo sends one command through p and returns its raw reply.
func peerDo(t *testing.T, p *pool.Pool, args ...string) (string, error) {
	t.Helper()
	b := pool.NewBatch(1)
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	b.Add(cmd...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Do(ctx, b); err != nil {
		return "", err
	}
	defer b.Release()
	return string(b.Reply(0)), nil
}

func waitDials(t *testing.T, peer *pipePeer, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for int(peer.dials.Load()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d dials, want %d", peer.dials.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPeerReplyWithNoCommandWaiting: a reply nobody asked for is never handed to a later
// command; the connection is dropped and the pool redials.
func TestPeerReplyWithNoCommandWaiting(t *testing.T) {
	peer := newPipePeer(t, func(dial int, c *peerConn) {
		if !c.handshake("+OK\r\n") {
			return
		}
		if dial == 1 {
			c.send("+STRAY\r\n")
		}
		c.serveKV()
	})
	p := pool.New(peer.options())
	defer p.Close()
	waitDials(t, peer, 2)
	waitConnected(t, p)
	if got, err := peerDo(t, p, "GET", "k"); err != nil || got != "$1\r\nv\r\n" {
		t.Fatalf("GET after a stray reply: %q %v, want the peer's own answer", got, err)
	}
}

// TestPeerExtraHandshakeReply: a handshake answered twice would shift every later reply by
// one; the dial fails and the next one is used.
func TestPeerExtraHandshakeReply(t *testing.T) {
	peer := newPipePeer(t, func(dial int, c *peerConn) {
		reply := "+OK\r\n"
		if dial == 1 {
			reply = "+OK\r\n+OK\r\n"
		}
		if c.handshake(reply) {
			c.serveKV()
		}
	})
	p := pool.New(peer.options())
	defer p.Close()
	waitDials(t, peer, 2)
	waitConnected(t, p)
	if got, err := peerDo(t, p, "GET", "k"); err != nil || got != "$1\r\nv\r\n" {
		t.Fatalf("GET after an extra handshake reply: %q %v, want the peer's own answer", got, err)
	}
	if n := peer.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2: the first refused, the second kept", n)
	}
}

// TestPeerReplySplitAcrossReads: a reply that arrives a byte at a time, its length prefixes
// and CRLFs cut everywhere, is put together whole, and the next reply is not disturbed.
func TestPeerReplySplitAcrossReads(t *testing.T) {
	const reply = "*3\r\n$5\r\nfirst\r\n:-42\r\n*2\r\n$0\r\n\r\n$-1\r\n"
	peer := newPipePeer(t, func(dial int, c *peerConn) {
		if !c.handshake("+OK\r\n") {
			return
		}
		if _, err := c.command(); err != nil {
			return
		}
		for i := range len(reply) {
			if c.send(reply[i:i+1]) != nil {
				return
			}
		}
		c.serveKV()
	})
	p := pool.New(peer.options())
	defer p.Close()
	if got, err := peerDo(t, p, "LRANGE", "l", "0", "-1"); err != nil || got != reply {
		t.Fatalf("reply split in bytes: %q %v, want %q", got, err, reply)
	}
	if got, err := peerDo(t, p, "GET", "k"); err != nil || got != "$1\r\nv\r\n" {
		t.Fatalf("the next reply: %q %v", got, err)
	}
}

// TestPeerNonIntegerWAIT: a WAIT answered with something else than an integer fails the
// write it covers as not acknowledged (never as acknowledged), and the connection goes on.
func TestPeerNonIntegerWAIT(t *testing.T) {
	waits := 0
	peer := newPipePeer(t, func(dial int, c *peerConn) {
		if !c.handshake("+OK\r\n") {
			return
		}
		for {
			args, err := c.command()
			if err != nil {
				return
			}
			reply := "+OK\r\n"
			if args[0] == "WAIT" {
				waits++
				reply = []string{"$3\r\none\r\n", "-ERR no\r\n", ":1\r\n"}[min(waits, 3)-1]
			}
			if c.send(reply) != nil {
				return
			}
		}
	})
	o := peer.options()
	o.AckReplicas, o.AckTimeout = 1, 100*time.Millisecond
	p := pool.New(o)
	defer p.Close()
	for i, want := range []error{pool.ErrNotAcked, pool.ErrNotAcked, nil} {
		_, err := peerDo(t, p, "SET", "k", "v")
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("write %d: %v, want %v", i, err, want)
		}
	}
	if n := peer.dials.Load(); n != 1 {
		t.Errorf("%d dials: a bad WAIT answer should not drop the connection", n)
	}
}

func waitConnected(t *testing.T, p *pool.Pool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for p.Connected() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no connection up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUnsentBatchSentAgain: a batch still waiting to be written when its connection fails
// comes back as an *UnavailableError and, given to another pool, gets that pool's replies
// (a cluster's read sent to a dead replica, then to the primary).
func TestUnsentBatchSentAgain(t *testing.T) {
	release := make(chan struct{})
	peer := newPipePeer(t, func(dial int, c *peerConn) {
		if !c.handshake("+OK\r\n") {
			return
		}
		<-release // reads nothing more: the writer blocks on the first batch
		c.Close()
	})
	dead := pool.New(peer.options())
	defer dead.Close()
	waitDials(t, peer, 1)
	waitConnected(t, dead)

	first := pool.NewBatch(1)
	first.Add([]byte("GET"), []byte("a"))
	firstErr := make(chan error, 1)
	go func() { firstErr <- dead.Do(context.Background(), first) }()
	for dead.Stats().Backlog < 1 {
		time.Sleep(time.Millisecond)
	}
	second := pool.NewBatch(1)
	second.Add([]byte("GET"), []byte("b"))
	secondErr := make(chan error, 1)
	go func() { secondErr <- dead.Do(context.Background(), second) }()
	for dead.Stats().Backlog < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-firstErr; err == nil {
		t.Fatal("the batch being written when the connection closed succeeded")
	}
	err := <-secondErr
	var down *pool.UnavailableError
	if !errors.As(err, &down) {
		t.Fatalf("the batch waiting to be written: %v, want an *UnavailableError", err)
	}

	live := newPipePeer(t, func(dial int, c *peerConn) {
		if c.handshake("+OK\r\n") {
			c.serveKV()
		}
	})
	other := pool.New(live.options())
	defer other.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := other.Do(ctx, second); err != nil {
		t.Fatalf("sent again: %v", err)
	}
	defer second.Release()
	if second.Len() != 1 || string(second.Reply(0)) != "$1\r\nv\r\n" {
		t.Fatalf("sent again: replies %q, want the other pool's", second.Replies())
	}
}
