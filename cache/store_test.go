package cache

import (
	"strconv"
	"testing"
	"time"
)

func newEntry(cmd, key, raw string) *entry {
	return &entry{cmd: cmd, key: key, raw: []byte(raw), expires: time.Now().Add(time.Hour)}
}

func TestFillOvertakenByInvalidationIsDropped(t *testing.T) {
	s := newStore(1 << 20)
	tk := s.ticket([]byte("k"))
	s.invalidate([]byte("k")) // the invalidation arrives before the fill's reply
	if s.put(newEntry("GET k", "k", "old"), tk) {
		t.Fatal("fill kept after an invalidation of its key")
	}
	tk = s.ticket([]byte("k"))
	s.invalidate([]byte("other"))
	if s.ticket([]byte("other")).stripe != tk.stripe && !s.put(newEntry("GET k", "k", "v"), tk) {
		t.Fatal("fill dropped after an invalidation of another key")
	}
	tk = s.ticket([]byte("k"))
	s.flush()
	if s.put(newEntry("GET k", "k", "old"), tk) {
		t.Fatal("fill kept after a flush")
	}
	if s.dropped != 2 {
		t.Errorf("dropped %d, want 2", s.dropped)
	}
}

func TestInvalidateDropsEveryEntryOfTheKey(t *testing.T) {
	s := newStore(1 << 20)
	for _, cmd := range []string{"GET k", "STRLEN k", "EXISTS k"} {
		s.put(newEntry(cmd, "k", "x"), s.ticket([]byte("k")))
	}
	s.put(newEntry("GET j", "j", "y"), s.ticket([]byte("j")))
	s.invalidate([]byte("k"))
	now := time.Now()
	for _, cmd := range []string{"GET k", "STRLEN k", "EXISTS k"} {
		if s.get([]byte(cmd), now) != nil {
			t.Errorf("%s survived", cmd)
		}
	}
	if s.get([]byte("GET j"), now) == nil || len(s.entries) != 1 || len(s.byKey) != 1 {
		t.Errorf("entries %d, keys %d", len(s.entries), len(s.byKey))
	}
	if s.bytes != s.entries["GET j"].size {
		t.Errorf("bytes %d", s.bytes)
	}
}

func TestLRUWithinBytes(t *testing.T) {
	s := newStore(100 * (entryOverhead + 20))
	for i := range 150 {
		k := "k" + strconv.Itoa(i)
		s.put(newEntry("GET "+k, k, "0123456789"), s.ticket([]byte(k)))
		if i == 90 {
			s.get([]byte("GET k0"), time.Now()) // k0 is used: it stays
		}
	}
	if s.bytes > s.maxBytes || s.evictions == 0 {
		t.Fatalf("bytes %d of %d, evictions %d", s.bytes, s.maxBytes, s.evictions)
	}
	if s.get([]byte("GET k0"), time.Now()) == nil {
		t.Error("recently used entry evicted")
	}
	if s.get([]byte("GET k1"), time.Now()) != nil {
		t.Error("least recently used entry kept")
	}
	if s.get([]byte("GET k149"), time.Now()) == nil {
		t.Error("newest entry evicted")
	}
	big := newEntry("GET big", "big", string(make([]byte, s.maxBytes/8)))
	if s.put(big, s.ticket([]byte("big"))) {
		t.Error("entry larger than a sixteenth of the budget kept")
	}
}

func TestExpiredEntryIsGone(t *testing.T) {
	s := newStore(1 << 20)
	e := newEntry("GET k", "k", "v")
	e.expires = time.Now().Add(-time.Millisecond)
	s.put(e, s.ticket([]byte("k")))
	if s.get([]byte("GET k"), time.Now()) != nil || len(s.entries) != 0 || len(s.byKey) != 0 || s.bytes != 0 {
		t.Error("expired entry served or kept")
	}
}

func TestReplaceKeepsIndexConsistent(t *testing.T) {
	s := newStore(1 << 20)
	s.put(newEntry("GET k", "k", "a"), s.ticket([]byte("k")))
	s.put(newEntry("GET k", "k", "b"), s.ticket([]byte("k")))
	if e := s.get([]byte("GET k"), time.Now()); e == nil || string(e.raw) != "b" || len(s.entries) != 1 {
		t.Fatal("replacement lost")
	}
	s.invalidate([]byte("k"))
	if len(s.entries) != 0 || s.bytes != 0 || s.head != nil || s.tail != nil {
		t.Errorf("after invalidation: %d entries, %d bytes", len(s.entries), s.bytes)
	}
}

func TestAppendKeyDistinguishesArguments(t *testing.T) {
	a := appendKey(nil, [][]byte{[]byte("get"), []byte("ab")})
	b := appendKey(nil, [][]byte{[]byte("GET"), []byte("ab")})
	c := appendKey(nil, [][]byte{[]byte("GET"), []byte("a"), []byte("b")})
	d := appendKey(nil, [][]byte{[]byte("GET"), []byte("AB")})
	if string(a) != string(b) || string(b) == string(c) || string(b) == string(d) {
		t.Errorf("keys %q %q %q %q", a, b, c, d)
	}
}

func TestParsePush(t *testing.T) {
	for _, tt := range []struct {
		give     string
		wantKind string
		wantKeys []string
		wantAll  bool
	}{
		{"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n", "message", []string{"k"}, false},
		{"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", "message", []string{"a", "b"}, false},
		{"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n", "message", nil, true},
		{"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*-1\r\n", "message", nil, true},
		{"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*0\r\n", "message", nil, false},
		{"*2\r\n$4\r\npong\r\n$0\r\n\r\n", "pong", nil, false},
	} {
		kind, keys, err := parsePush([]byte(tt.give), nil)
		if err != nil || kind != tt.wantKind || (keys == nil) != (tt.wantAll || kind != "message") || len(keys) != len(tt.wantKeys) {
			t.Errorf("%q: %q %q %v", tt.give, kind, keys, err)
			continue
		}
		for i := range keys {
			if string(keys[i]) != tt.wantKeys[i] {
				t.Errorf("%q: key %d %q", tt.give, i, keys[i])
			}
		}
	}
	if _, _, err := parsePush([]byte("+OK\r\n"), nil); err == nil {
		t.Error("non-array accepted")
	}
}
