package redistest

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"
)

// startEcho runs a TCP server on a free loopback port that sends back whatever it reads.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// medianRTT sends one byte n times through a new connection to addr, waiting for its echo each time.
func medianRTT(t *testing.T, addr string, n int) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	b := []byte{'x'}
	rtts := make([]time.Duration, n)
	for i := range rtts {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		rtts[i] = time.Since(start)
	}
	slices.Sort(rtts)
	return rtts[n/2]
}

func TestDelayProxyAddsDelay(t *testing.T) {
	echo := startEcho(t)
	direct := medianRTT(t, echo, 200)
	zero, err := NewDelayProxy(echo, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	base := medianRTT(t, zero.Addr, 200) // the forwarding alone
	t.Logf("round trip: direct %v, through a proxy without delay %v", direct, base)
	for _, delay := range []time.Duration{250 * time.Microsecond, 3 * time.Millisecond} {
		p, err := NewDelayProxy(echo, delay)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		added := medianRTT(t, p.Addr, 100) - base
		t.Logf("delay %v each way: round trip +%v (want ≈ %v)", delay, added, 2*delay)
		// sleepUntil may wake up to timerSlack early; a loaded machine wakes it late
		if added < 2*(delay-timerSlack) || added > 2*delay+3*time.Millisecond {
			t.Errorf("delay %v each way added %v to the round trip, want about %v", delay, added, 2*delay)
		}
	}
}

func TestDelayProxyKeepsBytesInOrder(t *testing.T) {
	p := StartDelayProxy(t, startEcho(t), 100*time.Microsecond)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	want := make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(rand.IntN(256))
	}
	go func() {
		// many writes of varied sizes, so that chunks queue up and are written in batches
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 1+rand.IntN(64<<10))
			if _, err := c.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes came back changed or out of order")
	}
}

func TestDelayProxyCloseEndsConnections(t *testing.T) {
	p, err := NewDelayProxy(startEcho(t), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	p.Close() // waits for every forwarding goroutine
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(b); err != io.EOF {
		t.Fatalf("read after Close: %v, want EOF", err)
	}
	if _, err := net.Dial("tcp", p.Addr); err == nil {
		t.Fatal("the proxy still accepts connections after Close")
	}
}
