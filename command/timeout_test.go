package command

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// What Redis does with a timeout and what capTimeout makes of it.
const (
	redisError   = "error"   // Redis answers an error at once
	redisTimeout = "timeout" // Redis blocks, then answers nil (WAIT: 0) within the test's wait
	redisBlocks  = "blocks"  // Redis still blocks at the end of the test's wait (forever or long)
	oursKeep     = "keep"    // capTimeout keeps it and reports its duration
	oursCap      = "cap"     // capTimeout rewrites it to the cap
	oursLeave    = "leave"   // capTimeout leaves it for Redis to reject
)

type timeoutCase struct {
	arg   string
	redis string
	ours  string
	ms    int64 // duration reported for oursKeep
}

// secondsCases are timeouts in seconds (BLPOP and the other list and sorted set pops).
var secondsCases = []timeoutCase{
	{"0", redisBlocks, oursCap, 0},
	{"0.0", redisBlocks, oursCap, 0},
	{"0x0", redisBlocks, oursCap, 0},
	{"0X0", redisBlocks, oursCap, 0},
	{"-0", redisBlocks, oursCap, 0},
	{"+0", redisBlocks, oursCap, 0},
	{"-0.0001", redisBlocks, oursCap, 0},
	{"-0.0009", redisBlocks, oursCap, 0},
	{"-0x1p-20", redisBlocks, oursCap, 0},
	{"-1e-400", redisBlocks, oursCap, 0},
	{"10000000000", redisBlocks, oursCap, 0},
	{"1e3", redisBlocks, oursCap, 0},
	{"0x10", redisBlocks, oursCap, 0},
	// Redis rounds up to whole milliseconds.
	{"0.0009", redisTimeout, oursKeep, 1},
	{"0.0000001", redisTimeout, oursKeep, 1},
	{"1e-400", redisTimeout, oursKeep, 1},
	{"0x1p-20", redisTimeout, oursKeep, 1},
	{"0.0101", redisTimeout, oursKeep, 11},
	{"0.05", redisTimeout, oursKeep, 50},
	{".05", redisTimeout, oursKeep, 50},
	{"+0.05", redisTimeout, oursKeep, 50},
	{"5e-2", redisTimeout, oursKeep, 50},
	{"0.5E-1", redisTimeout, oursKeep, 50},
	{"1.e-1", redisTimeout, oursKeep, 100},
	{"0x.1", redisTimeout, oursKeep, 63},
	{"0x0.1p0", redisTimeout, oursKeep, 63},
	{"0X1P-4", redisTimeout, oursKeep, 63},
	{"0x1.p-4", redisTimeout, oursKeep, 63},
	{"0.002", redisTimeout, oursKeep, 2},
	{"-1", redisError, oursLeave, 0},
	{"-0.5", redisError, oursLeave, 0},
	{"-inf", redisError, oursLeave, 0},
	{"nan", redisError, oursLeave, 0},
	{"-NaN", redisError, oursLeave, 0},
	{"", redisError, oursLeave, 0},
	{"\x00", redisError, oursLeave, 0},
	{"0\x00", redisError, oursLeave, 0},
	{"5\x00junk", redisError, oursLeave, 0},
	{" 1", redisError, oursLeave, 0},
	{"1 ", redisError, oursLeave, 0},
	{"\t1", redisError, oursLeave, 0},
	{"0x", redisError, oursLeave, 0},
	{"0x.", redisError, oursLeave, 0},
	{"1e", redisError, oursLeave, 0},
	{"1e+", redisError, oursLeave, 0},
	{"1p3", redisError, oursLeave, 0},
	{".", redisError, oursLeave, 0},
	{"abc", redisError, oursLeave, 0},
	{"--1", redisError, oursLeave, 0},
	{"1_0", redisError, oursLeave, 0},
	{"0x1_0", redisError, oursLeave, 0},
	{"0b1", redisError, oursLeave, 0},
	{"1,5", redisError, oursLeave, 0},
	{"infinit", redisError, oursLeave, 0},
	// Redis overflows these to a negative timeout; capping them is harmless.
	{"inf", redisError, oursCap, 0},
	{"Infinity", redisError, oursCap, 0},
	{"1e16", redisError, oursCap, 0},
	{"1e300", redisError, oursCap, 0},
	{"1e400", redisError, oursCap, 0},
	// Redis refuses an underflow to 0 (ERANGE); a float64 cannot tell it from 1e-400.
	{"1e-5000", redisError, oursKeep, 1},
}

// millisecondsCases are timeouts in integer milliseconds (WAIT, XREAD BLOCK).
var millisecondsCases = []timeoutCase{
	{"0", redisBlocks, oursCap, 0},
	{"10000000000000", redisBlocks, oursCap, 0},
	{"50", redisTimeout, oursKeep, 50},
	{"1", redisTimeout, oursKeep, 1},
	{"-1", redisError, oursLeave, 0},
	{"-0", redisError, oursLeave, 0},
	{"+5", redisError, oursLeave, 0},
	{"007", redisError, oursLeave, 0},
	{"00", redisError, oursLeave, 0},
	{"5.0", redisError, oursLeave, 0},
	{"1e3", redisError, oursLeave, 0},
	{"0x10", redisError, oursLeave, 0},
	{" 5", redisError, oursLeave, 0},
	{"5 ", redisError, oursLeave, 0},
	{"", redisError, oursLeave, 0},
	{"5\x00", redisError, oursLeave, 0},
	{"9223372036854775808", redisError, oursLeave, 0},
	{"-9223372036854775809", redisError, oursLeave, 0},
	{"-9223372036854775808", redisError, oursLeave, 0},
	{"99999999999999999999", redisError, oursLeave, 0},
}

func TestCapTimeoutCases(t *testing.T) {
	const max = 250 * time.Millisecond
	for _, c := range []struct {
		ms    bool
		cases []timeoutCase
	}{{false, secondsCases}, {true, millisecondsCases}} {
		for _, tc := range c.cases {
			v, d := capTimeout([]byte(tc.arg), c.ms, max)
			var ours string
			switch {
			case v != nil:
				ours = oursCap
				want := "0.25"
				if c.ms {
					want = "250"
				}
				if string(v) != want || d != max {
					t.Errorf("ms=%v %q: rewritten to %q, %v", c.ms, tc.arg, v, d)
				}
			case d == max:
				ours = oursLeave
			default:
				ours = oursKeep
				if d != time.Duration(tc.ms)*time.Millisecond {
					t.Errorf("ms=%v %q: blocks %v, want %d ms", c.ms, tc.arg, d, tc.ms)
				}
			}
			if ours != tc.ours {
				t.Errorf("ms=%v %q: capTimeout does %s, want %s", c.ms, tc.arg, ours, tc.ours)
			}
		}
	}
}

// TestTimeoutsAsRedisReadsThem runs every case against a real server: BLPOP for seconds,
// WAIT (with no replica to wait for) for milliseconds, each on its own connection.
func TestTimeoutsAsRedisReadsThem(t *testing.T) {
	srv := redistest.Start(t)
	type pending struct {
		c  *conn
		tc timeoutCase
		ms bool
	}
	var all []pending
	for _, c := range []struct {
		ms    bool
		cases []timeoutCase
	}{{false, secondsCases}, {true, millisecondsCases}} {
		for _, tc := range c.cases {
			cn := dial(t, srv)
			args := bytesArgs("BLPOP", "no-such-list", tc.arg)
			if c.ms {
				args = bytesArgs("WAIT", "1", tc.arg)
			}
			cn.send(args)
			all = append(all, pending{cn, tc, c.ms})
		}
	}
	const wait = 400 * time.Millisecond
	start := time.Now()
	for _, p := range all {
		_, err := p.c.read(max(wait-time.Since(start), time.Millisecond))
		var ne *netError
		got := redisTimeout
		switch {
		case errors.As(err, &ne) && strings.Contains(err.Error(), "timeout"):
			got = redisBlocks
		case errors.As(err, &ne):
			t.Fatalf("%q: %v", p.tc.arg, err)
		case err != nil:
			got = redisError
			if !strings.HasPrefix(err.Error(), "ERR timeout is") {
				t.Errorf("%q: unexpected error %v", p.tc.arg, err)
			}
		}
		if got != p.tc.redis {
			t.Errorf("ms=%v %q: Redis %s, the case says %s", p.ms, p.tc.arg, got, p.tc.redis)
		}
	}
}

// TestCanonicalTimeouts checks that Redis reads the rewritten timeouts as the duration the
// plan reports, down to a 1 ms cap (which must not become "forever").
func TestCanonicalTimeouts(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	for _, max := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 20 * time.Millisecond, 123456 * time.Microsecond} {
		s := Scope{Blocking: true, MaxBlock: max}
		for _, cmd := range []string{"BLPOP no-such-list 0", "WAIT 1 0", "XREAD BLOCK 0 STREAMS no-such-stream $"} {
			p, err := s.Check(fields(cmd))
			if err != nil {
				t.Fatal(err)
			}
			if p.Block != max.Truncate(time.Millisecond) {
				t.Errorf("%v %s: block %v", max, cmd, p.Block)
			}
			start := time.Now()
			c.send(p.Args)
			if _, err := c.read(p.Block + 2*time.Second); err != nil {
				t.Fatalf("%s: %v", join(p.Args), err)
			}
			if took := time.Since(start); took < p.Block || took > p.Block+time.Second {
				t.Errorf("%s blocked %v, plan says %v", join(p.Args), took, p.Block)
			}
		}
	}
}

func FuzzCapTimeout(f *testing.F) {
	for _, tc := range secondsCases {
		f.Add(tc.arg, false, uint32(30000))
	}
	for _, tc := range millisecondsCases {
		f.Add(tc.arg, true, uint32(1))
	}
	f.Add("0x1.fffffffffffffp1023", false, uint32(1500))
	f.Add("4e-324", false, uint32(7))
	f.Fuzz(func(t *testing.T, arg string, ms bool, maxMS uint32) {
		max := time.Duration(maxMS%(24*3600*1000)+1) * time.Millisecond
		v, d := capTimeout([]byte(arg), ms, max)
		if d < 0 || d > max {
			t.Fatalf("capTimeout(%q, %v, %v) blocks %v", arg, ms, max, d)
		}
		if v != nil {
			if d != max {
				t.Fatalf("capTimeout(%q, %v, %v) rewrote to %q but blocks %v", arg, ms, max, v, d)
			}
			v2, d2 := capTimeout(v, ms, max)
			if v2 != nil || d2 != d {
				t.Fatalf("the rewritten %q reads back as %q, %v", v, v2, d2)
			}
		}
		name := "BLPOP"
		if ms {
			name = "WAIT"
		}
		p, err := Scope{Blocking: true, MaxBlock: max}.Check([][]byte{[]byte(name), []byte("k"), []byte(arg)})
		if err != nil || p.Block < 0 || p.Block > max || p.Info.Kind != Blocking {
			t.Fatalf("%s k %q: %+v, %v", name, arg, p, err)
		}
		p, err = Scope{Blocking: true, MaxBlock: max}.Check([][]byte{[]byte("XREAD"), []byte("BLOCK"), []byte(arg), []byte("BLOCK"), []byte(arg), []byte("STREAMS"), []byte("s"), []byte("$")})
		if err != nil || p.Block < 0 || p.Block > max {
			t.Fatalf("XREAD BLOCK %q: %+v, %v", arg, p, err)
		}
	})
}
