package command

import (
	"errors"
	"net/url"
	"strings"
	"testing"
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
