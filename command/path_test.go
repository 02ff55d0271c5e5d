package command

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFromPath(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		query   []string // key, value pairs
		want    []string
		wantErr error
	}{
		{name: "segments", path: "/set/k/v", want: []string{"set", "k", "v"}},
		{name: "percent-decoded", path: "/set/a%2Fb/%E2%82%AC%20", want: []string{"set", "a/b", "€ "}},
		{name: "plus kept", path: "/echo/a+b", want: []string{"echo", "a+b"}},
		{name: "trailing slash", path: "/set/k/", want: []string{"set", "k", ""}},
		{name: "empty middle segment", path: "/set//v", want: []string{"set", "", "v"}},
		{name: "body last", path: "/set/k", body: "v a l", want: []string{"set", "k", "v a l"}},
		{name: "query after body", path: "/set/k", body: "v", query: []string{"EX", "100", "NX", ""}, want: []string{"set", "k", "v", "EX", "100", "NX"}},
		{name: "token dropped", path: "/get/k", query: []string{"_token", "secret"}, want: []string{"get", "k"}},
		{name: "root", path: "/", wantErr: ErrEmpty},
		{name: "empty name", path: "//k", wantErr: ErrEmpty},
		{name: "bad escape", path: "/get/%g0", wantErr: ErrPath},
		{name: "short escape", path: "/get/%0", wantErr: ErrPath},
		{name: "relative", path: "get/k", wantErr: ErrPath},
		{name: "too many", path: "/" + strings.Repeat("a/", 10) + "a", wantErr: ErrTooMany},
	}
	for _, tt := range tests {
		var q []Arg
		for i := 0; i < len(tt.query); i += 2 {
			q = append(q, Arg{Key: []byte(tt.query[i]), Value: []byte(tt.query[i+1])})
		}
		got, err := FromPath([]byte(tt.path), []byte(tt.body), tt.body != "", q, 10)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: error %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !equalArgs(got, tt.want) {
			t.Errorf("%s: FromPath(%q) = %q, %v; want %q", tt.name, tt.path, got, err, tt.want)
		}
	}
}

// FuzzFromPath checks segment decoding against net/url and that decoding inverts escaping.
func FuzzFromPath(f *testing.F) {
	for _, s := range []string{"/set/k/v", "/get/%2F%20", "/a/%zz", "/echo/a+b/", "//", "/x/%e2%82%ac", "/%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		args, err := FromPath([]byte(path), nil, false, nil, 0)
		if err != nil {
			return
		}
		segs := strings.Split(path[1:], "/")
		if len(segs) != len(args) {
			t.Fatalf("FromPath(%q) gave %d args for %d segments", path, len(args), len(segs))
		}
		for i, seg := range segs {
			want, err := url.PathUnescape(seg)
			if err != nil || want != string(args[i]) {
				t.Fatalf("segment %q: got %q, net/url %q (%v)", seg, args[i], want, err)
			}
			round, err := Unescape([]byte(url.PathEscape(string(args[i]))))
			if err != nil || string(round) != string(args[i]) {
				t.Fatalf("escape/unescape of %q gave %q, %v", args[i], round, err)
			}
		}
	})
}

func TestCheck(t *testing.T) {
	tests := []struct {
		give     []string
		readOnly bool
		wantErr  string // prefix; "" means allowed
	}{
		{[]string{"get", "k"}, true, ""},
		{[]string{"GET", "k"}, false, ""},
		{[]string{"set", "k", "v"}, false, ""},
		{[]string{"set", "k", "v"}, true, "NOPERM"},
		{[]string{"keys", "*"}, true, "NOPERM"},
		{[]string{"keys", "*"}, false, ""},
		{[]string{"eval_ro", "return 1", "0"}, true, ""},
		{[]string{"multi"}, false, "ERR command 'MULTI' is not supported"},
		{[]string{"Client", "list"}, false, "ERR command 'CLIENT' is not supported"},
		{[]string{"blpop", "l", "0"}, false, "ERR blocking command 'BLPOP'"},
		{[]string{"xread", "count", "1", "streams", "s", "0"}, true, ""},
		{[]string{"xread", "block", "0", "streams", "s", "$"}, true, "ERR blocking command 'XREAD'"},
		{[]string{"xreadgroup", "group", "g", "c", "BLOCK", "10", "streams", "s", ">"}, false, "ERR blocking command 'XREADGROUP'"},
	}
	for _, tt := range tests {
		args := make([][]byte, len(tt.give))
		for i, a := range tt.give {
			args[i] = []byte(a)
		}
		_, err := Check(args, tt.readOnly, false)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Check(%q, ro=%v) = %v, want allowed", tt.give, tt.readOnly, err)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("Check(%q, ro=%v) = %v, want %q…", tt.give, tt.readOnly, err, tt.wantErr)
		}
	}
}

func TestCheckAllowsBlockingWhenAsked(t *testing.T) {
	if _, err := Check([][]byte{[]byte("BLPOP"), []byte("l"), []byte("1")}, false, true); err != nil {
		t.Errorf("BLPOP with blocking allowed: %v", err)
	}
	if _, err := Check([][]byte{[]byte("BLPOP"), []byte("l"), []byte("1")}, true, true); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("BLPOP with a read-only token: %v", err)
	}
}

func TestCapTimeout(t *testing.T) {
	tests := []struct {
		give     string
		wantArgs string
		wantD    time.Duration
	}{
		{"BLPOP a b 5", "BLPOP a b 5", 5 * time.Second},
		{"blpop a 0", "blpop a 30", 30 * time.Second},
		{"BRPOP a 100", "BRPOP a 30", 30 * time.Second},
		{"BRPOP a 0.5", "BRPOP a 0.5", 500 * time.Millisecond},
		{"BLMOVE a b LEFT RIGHT 0", "BLMOVE a b LEFT RIGHT 30", 30 * time.Second},
		{"BLMPOP 0 2 a b LEFT COUNT 3", "BLMPOP 30 2 a b LEFT COUNT 3", 30 * time.Second},
		{"BZMPOP 2 1 z MIN", "BZMPOP 2 1 z MIN", 2 * time.Second},
		{"WAIT 1 0", "WAIT 1 30000", 30 * time.Second},
		{"WAIT 1 250", "WAIT 1 250", 250 * time.Millisecond},
		{"XREAD COUNT 1 BLOCK 0 STREAMS s $", "XREAD COUNT 1 BLOCK 30000 STREAMS s $", 30 * time.Second},
		{"XREADGROUP GROUP g c block 100 STREAMS s >", "XREADGROUP GROUP g c block 100 STREAMS s >", 100 * time.Millisecond},
		{"BLPOP a soon", "BLPOP a soon", 30 * time.Second},
		{"BLPOP a -1", "BLPOP a -1", 30 * time.Second},
	}
	for _, tt := range tests {
		var args [][]byte
		for _, f := range strings.Fields(tt.give) {
			args = append(args, []byte(f))
		}
		d := CapTimeout(args, 30*time.Second)
		var got []string
		for _, a := range args {
			got = append(got, string(a))
		}
		if strings.Join(got, " ") != tt.wantArgs || d != tt.wantD {
			t.Errorf("CapTimeout(%s) = %q, %v; want %q, %v", tt.give, strings.Join(got, " "), d, tt.wantArgs, tt.wantD)
		}
	}
}
