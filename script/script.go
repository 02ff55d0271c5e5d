// Package script lets Lua scripts written for Upstash run on stock Redis: it strips the
// shebang flags Redis does not know and maps each original script hash to the stored one.
package script

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"sync"
)

// knownFlags are the shebang flags Redis 7 accepts.
var knownFlags = map[string]bool{
	"no-writes": true, "allow-oom": true, "allow-stale": true, "no-cluster": true, "allow-cross-slot-keys": true,
}

// Comment returns src with its shebang line turned into a Lua comment, for servers that do not
// read shebangs (the embedded backend); line numbers hold. It reports whether anything changed.
func Comment(src []byte) ([]byte, bool) {
	if !bytes.HasPrefix(src, []byte("#!")) {
		return src, false
	}
	return append([]byte("--"), src...), true
}

// Normalize returns src with the shebang flags Redis does not know removed, keeping the
// shebang line so line numbers hold, and whether anything changed.
func Normalize(src []byte) ([]byte, bool) {
	if !bytes.HasPrefix(src, []byte("#!")) {
		return src, false
	}
	line, rest := src, []byte(nil)
	if i := bytes.IndexByte(src, '\n'); i >= 0 {
		line, rest = src[:i], src[i:]
	}
	cr := bytes.HasSuffix(line, []byte("\r"))
	parts := strings.Fields(string(line))
	if len(parts) == 0 {
		return src, false
	}
	out := []string{parts[0]}
	changed := false
	for _, p := range parts[1:] {
		flags, ok := strings.CutPrefix(p, "flags=")
		if !ok {
			out = append(out, p)
			continue
		}
		var keep []string
		for _, f := range strings.Split(flags, ",") {
			if knownFlags[f] {
				keep = append(keep, f)
			} else {
				changed = true
			}
		}
		if len(keep) > 0 {
			out = append(out, "flags="+strings.Join(keep, ","))
		}
	}
	if !changed {
		return src, false
	}
	norm := make([]byte, 0, len(src))
	norm = append(norm, strings.Join(out, " ")...)
	if cr {
		norm = append(norm, '\r')
	}
	return append(norm, rest...), true
}

// Hash returns the lower-case hex SHA1 of src, as Redis names scripts.
func Hash(src []byte) string {
	h := sha1.Sum(src)
	return hex.EncodeToString(h[:])
}

// Mapper rewrites script commands of one database so the hashes clients know keep working.
// It is safe for concurrent use.
type Mapper struct {
	mu        sync.RWMutex
	m         map[string]string // original hash → hash of the normalized script
	max       int
	normalize func([]byte) ([]byte, bool)
	// own, when not nil, holds the hashes of the scripts the database loaded (EVAL, SCRIPT
	// LOAD): on a Redis server that serves other databases too, the script cache is the
	// server's, so EVALSHA and SCRIPT EXISTS of another hash answer as if it were not there.
	own map[string]struct{}
}

// noScript is a hash no script has: Redis answers NOSCRIPT to EVALSHA of it and 0 to SCRIPT EXISTS.
const noScript = "0000000000000000000000000000000000000000"

// NewMapper returns a Mapper remembering at most max hashes; when full it forgets them all,
// which costs clients one NOSCRIPT and a fallback to EVAL. With commentShebang, shebang
// lines are commented out (Comment) instead of normalized, for servers without shebang support.
func NewMapper(max int, commentShebang bool) *Mapper {
	m := &Mapper{m: make(map[string]string), max: max, normalize: Normalize}
	if commentShebang {
		m.normalize = Comment
	}
	return m
}

// Namespace makes m keep the database's own view of the server's script cache: EVALSHA and
// SCRIPT EXISTS see only the scripts loaded through m (after a restart, none: clients get
// NOSCRIPT and fall back to EVAL, as they do after SCRIPT FLUSH), and Flush forgets them.
func (m *Mapper) Namespace() {
	m.mu.Lock()
	m.own = make(map[string]struct{})
	m.mu.Unlock()
}

// Flush forgets the scripts loaded through a namespaced m, as SCRIPT FLUSH would.
func (m *Mapper) Flush() {
	m.mu.Lock()
	if m.own != nil {
		clear(m.own)
	}
	m.mu.Unlock()
}

// Rewrite changes args in place for EVAL, EVAL_RO, EVALSHA, EVALSHA_RO, SCRIPT LOAD and
// SCRIPT EXISTS. For a SCRIPT LOAD whose script changed, it returns the original
// hash, which the caller answers instead of Redis's.
func (m *Mapper) Rewrite(args [][]byte) (loadHash string) {
	if len(args) < 2 {
		return ""
	}
	switch {
	case eq(args[0], "EVAL"), eq(args[0], "EVAL_RO"):
		m.remember(args[1])
		args[1], _ = m.rewrite(args[1])
	case eq(args[0], "EVALSHA"), eq(args[0], "EVALSHA_RO"):
		args[1] = m.lookup(args[1])
	case eq(args[0], "SCRIPT") && eq(args[1], "LOAD") && len(args) >= 3:
		m.remember(args[2])
		norm, changed := m.rewrite(args[2])
		if changed {
			loadHash = Hash(args[2])
		}
		args[2] = norm
	case eq(args[0], "SCRIPT") && eq(args[1], "EXISTS"):
		for i := 2; i < len(args); i++ {
			args[i] = m.lookup(args[i])
		}
	}
	return loadHash
}

// rewrite returns src normalized, remembering the hash mapping when it changed.
func (m *Mapper) rewrite(src []byte) ([]byte, bool) {
	norm, changed := m.normalize(src)
	if !changed {
		return src, false
	}
	orig, stored := Hash(src), Hash(norm)
	m.mu.Lock()
	if len(m.m) >= m.max {
		clear(m.m)
	}
	m.m[orig] = stored
	m.mu.Unlock()
	return norm, true
}

// remember records src as loaded by the database, when m is namespaced.
func (m *Mapper) remember(src []byte) {
	m.mu.RLock()
	own := m.own != nil
	m.mu.RUnlock()
	if !own {
		return
	}
	h := Hash(src)
	m.mu.Lock()
	if len(m.own) >= m.max {
		clear(m.own) // costs clients one NOSCRIPT and a fallback to EVAL
	}
	m.own[h] = struct{}{}
	m.mu.Unlock()
}

func (m *Mapper) lookup(sha []byte) []byte {
	key := strings.ToLower(string(sha))
	m.mu.RLock()
	stored, ok := m.m[key]
	_, mine := m.own[key]
	own := m.own != nil
	m.mu.RUnlock()
	switch {
	case own && !mine:
		return []byte(noScript)
	case ok:
		return []byte(stored)
	}
	return sha
}

func eq(a []byte, upper string) bool { return bytes.EqualFold(a, []byte(upper)) }
