package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAppendCommand(t *testing.T) {
	got := AppendCommand(nil, [][]byte{[]byte("SET"), []byte("k"), []byte("a\r\nb"), {}})
	want := "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$0\r\n\r\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, args := range [][][]byte{{}, {[]byte("PING")}, {[]byte("SET"), []byte("k"), make([]byte, 12345)}, make([][]byte, 10)} {
		if n, want := CommandSize(args), len(AppendCommand(nil, args)); n != want {
			t.Errorf("CommandSize = %d, AppendCommand wrote %d", n, want)
		}
	}
	if got := AppendError(nil, "ERR a\r\nb"); string(got) != "-ERR a  b\r\n" {
		t.Errorf("AppendError = %q", got)
	}
}

func TestReadReply(t *testing.T) {
	valid := []string{
		"+OK\r\n",
		"-ERR bad\r\n",
		":-42\r\n",
		"$5\r\nhello\r\n",
		"$0\r\n\r\n",
		"$-1\r\n",
		"*-1\r\n",
		"*0\r\n",
		"$4\r\na\r\nb\r\n",
		"*3\r\n:1\r\n*2\r\n$1\r\na\r\n-ERR x\r\n$-1\r\n",
	}
	for _, v := range valid {
		// Two replies back to back: the reader must stop exactly at the first one's end.
		r := bufio.NewReader(strings.NewReader(v + v))
		got, err := ReadReply(r, nil, 0)
		if err != nil || string(got) != v {
			t.Errorf("ReadReply(%q) = %q, %v", v, got, err)
		}
		if rest, err := Skip(got); err != nil || len(rest) != 0 {
			t.Errorf("Skip(%q) = %q, %v", got, rest, err)
		}
		if again, err := ReadReply(r, got[:0], 0); err != nil || string(again) != v {
			t.Errorf("second ReadReply(%q) = %q, %v", v, again, err)
		}
	}
	invalid := []struct {
		give    string
		wantErr error
	}{
		{"OK\r\n", ErrProtocol},
		{"+OK\n", ErrProtocol},
		{"$3\r\nabcd\r\n", ErrProtocol},
		{"$x\r\n", ErrProtocol},
		{"$-2\r\n", ErrProtocol},
		{"$999999999999\r\n", ErrProtocol},
		{"*2\r\n:1\r\n", io.EOF},
		{"$5\r\nab", io.ErrUnexpectedEOF},
		{"%1\r\n", ErrProtocol},
		{"$100\r\n" + strings.Repeat("x", 100) + "\r\n", ErrTooLarge},
	}
	for _, tt := range invalid {
		_, err := ReadReply(bufio.NewReader(strings.NewReader(tt.give)), nil, 64)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("ReadReply(%q) error = %v, want %v", tt.give, err, tt.wantErr)
		}
	}
}

func TestNext(t *testing.T) {
	raw := []byte("*2\r\n$3\r\nabc\r\n:7\r\n")
	kind, data, n, rest, err := Next(raw)
	if err != nil || kind != Array || n != 2 || data != nil {
		t.Fatalf("Next array = %c %d %v", kind, n, err)
	}
	kind, data, _, rest, err = Next(rest)
	if err != nil || kind != Bulk || string(data) != "abc" {
		t.Fatalf("Next bulk = %c %q %v", kind, data, err)
	}
	kind, data, _, rest, err = Next(rest)
	if err != nil || kind != Integer || string(data) != "7" || len(rest) != 0 {
		t.Fatalf("Next integer = %c %q %q %v", kind, data, rest, err)
	}
	if _, _, _, _, err := Next([]byte("$5\r\nab\r\n")); !errors.Is(err, ErrProtocol) {
		t.Errorf("truncated bulk: %v", err)
	}
}

// FuzzReadReply checks that whatever the reader accepts, Skip walks to its exact end.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "$-1\r\n", "*1\r\n*1\r\n-E\r\n", "$3\r\nabc\r\n", "*3\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		raw, err := ReadReply(bufio.NewReaderSize(bytes.NewReader(in), 16), nil, 1<<16)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(in, raw) {
			t.Fatalf("raw %q is not a prefix of input %q", raw, in)
		}
		rest, err := Skip(raw)
		if err != nil || len(rest) != 0 {
			t.Fatalf("Skip(%q) = %q, %v", raw, rest, err)
		}
	})
}
