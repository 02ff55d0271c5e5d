package respserver

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/redisgate/redisgate/resp"
)

func testLimits() limits {
	return limits{maxArgs: 16, maxBytes: 1 << 10, maxInline: 256}
}

// readAll reads every command of in.
func readAll(in []byte, lim limits) ([][][]byte, error) {
	r := newReader(bytes.NewReader(in), 64, lim)
	var out [][][]byte
	for {
		args, err := r.command()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		if args == nil {
			continue
		}
		cp := make([][]byte, len(args))
		for i, a := range args {
			cp[i] = bytes.Clone(a)
		}
		out = append(out, cp)
	}
}

func TestReaderForms(t *testing.T) {
	tests := []struct {
		give string
		want [][]string
	}{
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", [][]string{{"GET", "k"}}},
		{"*0\r\n*-1\r\nPING\r\n\r\n", [][]string{{"PING"}}},
		{"*1\r\n$0\r\n\r\n", [][]string{{""}}},
		{"set k \"a b\\x41\\n\"\r\n", [][]string{{"set", "k", "a bA\n"}}},
		{"set k 'it\\'s'\n", [][]string{{"set", "k", "it's"}}},
		{"  ping   \r\necho x\r\n", [][]string{{"ping"}, {"echo", "x"}}},
	}
	for _, tt := range tests {
		got, err := readAll([]byte(tt.give), testLimits())
		if err != nil {
			t.Errorf("%q: %v", tt.give, err)
			continue
		}
		var s [][]string
		for _, c := range got {
			var w []string
			for _, a := range c {
				w = append(w, string(a))
			}
			s = append(s, w)
		}
		if !reflect.DeepEqual(s, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.give, s, tt.want)
		}
	}
}

func TestReaderChargesTheBudget(t *testing.T) {
	var taken int64
	lim := testLimits()
	lim.reserveFor = func(n int64) bool {
		if taken+n > reserveStep {
			return false
		}
		taken += n
		return true
	}
	lim.maxBytes = 1 << 20
	r := newReader(strings.NewReader("*2\r\n$3\r\nGET\r\n$100000\r\n"), 64, lim)
	if _, err := r.command(); !errors.Is(err, errBudget) {
		t.Fatalf("got %v, want errBudget", err)
	}
	if got := r.reset(); got != reserveStep {
		t.Errorf("reset gave back %d", got)
	}
}

// FuzzReader checks that no input crashes the reader or gets a command past its limits, and
// that every command it reads reads back the same once encoded.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "PING\r\n", "set k \"v\\x00\"\r\n", "*1\r\n$-1\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n", "*99999999999\r\n", "'a' \"b\"\n", "*1\r\n$3\r\nabcXX",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := testLimits()
		cmds, _ := readAll(in, lim)
		var enc []byte
		for _, c := range cmds {
			size := 0
			for _, a := range c {
				size += len(a)
			}
			if len(c) > lim.maxArgs || size > max(lim.maxBytes, lim.maxInline) {
				t.Fatalf("a command past the limits: %d args, %d bytes", len(c), size)
			}
			enc = resp.AppendCommand(enc, c)
		}
		again, err := readAll(enc, limits{maxArgs: 1 << 20, maxBytes: 1 << 20, maxInline: 1 << 20})
		if err != nil || len(again) != len(cmds) {
			t.Fatalf("re-reading %d commands: %d, %v", len(cmds), len(again), err)
		}
		if !reflect.DeepEqual(again, cmds) {
			t.Fatalf("round trip: %q != %q", again, cmds)
		}
	})
}
