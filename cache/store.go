package cache

import (
	"encoding/binary"
	"hash/maphash"
	"time"
)

// entryOverhead approximates the memory an entry costs beyond its strings and reply.
const entryOverhead = 160

// stripes is the number of invalidation counters keys are hashed onto.
const stripes = 4096

// entry is one cached reply.
type entry struct {
	cmd     string     // the command, as encoded by appendKey: the entry's identity
	key     string     // the Redis key the command reads
	node    string     // the Cluster primary it was read from; "" off a Cluster
	raw     []byte     // the raw RESP reply; never changed once stored
	forms   [Forms]any // what callers made of raw (their encodings of it), kept by Cache.Keep
	size    int
	expires time.Time

	prev, next   *entry // LRU order, most recent at head
	kprev, knext *entry // entries reading the same key
}

// store holds entries bounded in bytes, evicting the least recently used. It is not safe
// for concurrent use: Cache guards it with its mutex.
//
// Every fill is checked against two counters before it is kept: the epoch, which every
// flush advances, and the invalidation stripe of its key, which every invalidation of a key
// hashed onto that stripe advances. A fill that saw either change between the moment its
// command was sent and the moment it is stored may hold a value older than that
// invalidation, and is dropped.
type store struct {
	maxBytes int
	seed     maphash.Seed
	entries  map[string]*entry
	byKey    map[string]*entry // head of each key's list
	head     *entry
	tail     *entry
	bytes    int
	epoch    uint64
	stripes  [stripes]uint64

	hits, misses, evictions, invalidations, flushes, dropped int64
}

func newStore(maxBytes int) *store {
	return &store{maxBytes: maxBytes, seed: maphash.MakeSeed(), entries: map[string]*entry{}, byKey: map[string]*entry{}}
}

// ticket is what a fill remembers of the store when its command is sent.
type ticket struct {
	epoch  uint64
	stripe int
	seq    uint64
}

// get returns the live entry of cmd and marks it recently used; an expired one is removed.
func (s *store) get(cmd []byte, now time.Time) *entry {
	e := s.entries[string(cmd)]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		s.remove(e)
		return nil
	}
	s.toFront(e)
	return e
}

// ticket returns the counters a fill of key must find unchanged to be kept.
func (s *store) ticket(key []byte) ticket {
	i := int(maphash.Bytes(s.seed, key) % stripes)
	return ticket{epoch: s.epoch, stripe: i, seq: s.stripes[i]}
}

// put keeps e unless t is outdated; it reports whether e was kept.
func (s *store) put(e *entry, t ticket) bool {
	if t.epoch != s.epoch || t.seq != s.stripes[t.stripe] {
		s.dropped++
		return false
	}
	e.size = entryOverhead + len(e.cmd) + len(e.key) + len(e.raw)
	if e.size > s.maxBytes/16 {
		return false
	}
	if old := s.entries[e.cmd]; old != nil {
		s.remove(old)
	}
	s.entries[e.cmd] = e
	e.knext = s.byKey[e.key]
	if e.knext != nil {
		e.knext.kprev = e
	}
	s.byKey[e.key] = e
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
	s.bytes += e.size
	for s.bytes > s.maxBytes && s.tail != nil {
		s.remove(s.tail)
		s.evictions++
	}
	return true
}

// attach keeps v, of size bytes, as form of the live entry of cmd when that entry still
// holds raw; the entry grows by size and least recently used entries make room.
func (s *store) attach(cmd []byte, form int, raw []byte, v any, size int) {
	e := s.entries[string(cmd)]
	if e == nil || e.forms[form] != nil || len(e.raw) != len(raw) || &e.raw[0] != &raw[0] {
		return
	}
	if e.size+size > s.maxBytes/16 {
		return
	}
	e.forms[form] = v
	e.size += size
	s.bytes += size
	for s.bytes > s.maxBytes && s.tail != nil {
		s.remove(s.tail)
		s.evictions++
	}
}

// invalidate removes every entry reading key and outdates fills of key in flight.
func (s *store) invalidate(key []byte) {
	s.invalidations++
	s.stripes[maphash.Bytes(s.seed, key)%stripes]++
	for e := s.byKey[string(key)]; e != nil; {
		next := e.knext
		s.remove(e)
		e = next
	}
}

// flush removes every entry and outdates every fill in flight.
func (s *store) flush() {
	s.flushes++
	s.epoch++
	clear(s.entries)
	clear(s.byKey)
	s.head, s.tail, s.bytes = nil, nil, 0
}

func (s *store) remove(e *entry) {
	delete(s.entries, e.cmd)
	if e.kprev != nil {
		e.kprev.knext = e.knext
	} else if e.knext != nil {
		s.byKey[e.key] = e.knext
	} else {
		delete(s.byKey, e.key)
	}
	if e.knext != nil {
		e.knext.kprev = e.kprev
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next, e.kprev, e.knext = nil, nil, nil, nil
	s.bytes -= e.size
}

func (s *store) toFront(e *entry) {
	if s.head == e {
		return
	}
	e.prev.next = e.next
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, s.head
	s.head.prev = e
	s.head = e
}

// appendKey appends the identity of the command args to dst: its upper-cased name and its
// arguments, each prefixed by its length.
func appendKey(dst []byte, args [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(args)))
	for i, a := range args {
		dst = binary.AppendUvarint(dst, uint64(len(a)))
		if i > 0 {
			dst = append(dst, a...)
			continue
		}
		for _, c := range a {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
		}
	}
	return dst
}
