package cache_test

import (
	"testing"
	"time"

	"github.com/redisgate/redisgate/cache"
)

func TestCacheControl(t *testing.T) {
	for _, tt := range []struct {
		give cache.Edge
		want string
		on   bool
	}{
		{cache.Edge{MaxAge: 10 * time.Second, StaleWhileRevalidate: time.Minute}, "public, max-age=10, stale-while-revalidate=60", true},
		{cache.Edge{MaxAge: 1500 * time.Millisecond}, "public, max-age=1", true},
		{cache.Edge{}, "public, max-age=0", false},
	} {
		if got := tt.give.CacheControl(); got != tt.want || tt.give.On() != tt.on {
			t.Errorf("%+v: %q on=%v, want %q on=%v", tt.give, got, tt.give.On(), tt.want, tt.on)
		}
	}
}

func TestETag(t *testing.T) {
	a := string(cache.AppendETag(nil, "json", []byte(`{"result":"v"}`)))
	if len(a) != 34 || a[0] != '"' || a[33] != '"' {
		t.Fatalf("etag %s", a)
	}
	if b := string(cache.AppendETag(nil, "json", []byte(`{"result":"v"}`))); a != b {
		t.Error("same body, same encoding: different tags")
	}
	if b := string(cache.AppendETag(nil, "base64", []byte(`{"result":"v"}`))); a == b {
		t.Error("different encodings share a tag")
	}
	if b := string(cache.AppendETag(nil, "json", []byte(`{"result":"w"}`))); a == b {
		t.Error("different bodies share a tag")
	}
}

func TestNoneMatch(t *testing.T) {
	etag := []byte(`"abc"`)
	for _, tt := range []struct {
		give string
		want bool
	}{
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{`"x",W/"abc"`, true},
		{`*`, true},
		{` * `, true},
		{`"ab"`, false},
		{`abc`, false},
		{`"x", abc`, false},
		{`"abc`, false},
		{``, false},
	} {
		if got := cache.NoneMatch([]byte(tt.give), etag); got != tt.want {
			t.Errorf("NoneMatch(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
