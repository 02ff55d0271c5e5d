// Package command turns REST requests into Redis commands and decides, for each tenant,
// whether and how a command runs on the gateway's shared, pipelined Redis connections.
//
// Its contract: every command a tenant sends goes through [Scope.Check] (or
// [Scope.CheckInTransaction] inside MULTI … EXEC), which either refuses it with the error
// to send back or returns the [Plan] to run: the arguments to send (the tenant's own, or a
// rewritten copy that confines the command to the tenant's database and channels and caps
// how long it blocks) and how the gateway must route it. The decision comes from one table
// of every Redis command and subcommand, generated from a real redis-server (table_gen.go,
// see gen_table.go), and a hand-written policy overlay (policy.go) giving a reason for each
// command treated specially. Commands the table does not know, such as module commands,
// pass through as commands that may write. [Scope.ACLRules] derives, from the same table, the
// Redis ACL user a database's connections run as, so that Lua scripts, which the gateway
// cannot inspect, are bound to the same limits.
package command

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Kind says how the gateway treats a command.
type Kind uint8

const (
	// Normal commands run on the multiplexed connections.
	Normal Kind = iota + 1
	// Refused commands cannot work over a pooled, stateless API.
	Refused
	// Blocking commands would stall a multiplexed connection.
	Blocking
	// Local commands are answered by the gateway itself and never reach Redis: on a shared
	// server SCRIPT FLUSH forgets the scripts the database loaded (the script cache is the
	// server's) and answers OK.
	Local
)

// Info describes one command for the gateway.
type Info struct {
	Kind Kind
	// Read reports that a read-only token may run the command.
	Read bool
	// NoWrite reports that the command never writes, so a replica may run it.
	NoWrite bool
	// Script reports that the command runs a Lua script or function (EVAL, EVALSHA, EVAL_RO,
	// EVALSHA_RO, FCALL, FCALL_RO), whose commands the gateway does not see.
	Script bool
	// ConnState reports that the command changes the state of the connection it runs on
	// (such commands are always Refused).
	ConnState bool
	// Cacheable reports that a read cache may keep the answer: the command only reads, its
	// only key is its first argument, and its answer changes only when that key is written
	// or expires (not with time, chance or access statistics). See Cacheable for the count
	// of keys a given call names.
	Cacheable bool
	// RetrySafe reports that the command may be sent again when a connection broke before
	// its answer came: it writes nothing and does not block.
	RetrySafe bool
}

// DefaultMaxBlock caps blocking timeouts when Scope.MaxBlock is 0.
const DefaultMaxBlock = 30 * time.Second

// Scope is what one token may do with its database.
type Scope struct {
	ReadOnly bool          // read-only token
	Blocking bool          // blocking commands have somewhere to run; false refuses them
	Shared   bool          // the Redis server also serves other tenants' databases
	Channels string        // prefix of the database's pub/sub channels ("" none), e.g. "db1:"
	DB       int           // logical database the token opens
	MaxBlock time.Duration // cap of blocking timeouts (default 30s when 0)
	// Confined reports that the database's connections run as the Redis user of ACLRules,
	// which cannot run COPY (its DB option reaches other databases, and ACL cannot deny an
	// option alone): COPY then runs as a script that copies within the database.
	Confined bool
}

// Plan is how one command runs.
type Plan struct {
	Info  Info          // as Lookup describes the command (after rewriting)
	Args  [][]byte      // the arguments to send: args itself, or a rewritten copy
	Block time.Duration // how long it may block; 0 unless Info.Kind == Blocking
}

// entry is one command or subcommand of the table with the policy applied.
type entry struct {
	lastKey   int               // the table's last key position: 1, or -1 for keys to the end
	name      string            // as messages name it: "SET", "SCRIPT DEBUG"
	info      Info              // for a tenant, before looking at arguments and scope
	rule      rule              // the policy, including the rule of its command for a subcommand
	refusedAs string            // the name a refusal uses: the command's when the whole command is refused
	sharedAs  string            // the name a refusal on a shared server uses
	subs      map[string]*entry // subcommands by upper-case "CMD|SUB"
	keys      keyRule           // where its keys are (keys.go)
}

// commands is the table by upper-case name (read-only after start).
var commands = build()

// maxName is the longest "CMD|SUB" name find looks up.
const maxName = 48

// build joins the generated table and the policy.
func build() map[string]*entry {
	t := make(map[string]*entry, len(specs)+4)
	for i := range specs {
		s := &specs[i]
		e := newEntry(s, policy[s.name], nil)
		if len(s.subs) > 0 {
			e.subs = make(map[string]*entry, len(s.subs))
			for j := range s.subs {
				sub := &s.subs[j]
				e.subs[sub.name] = newEntry(sub, policy[sub.name], e)
			}
		}
		t[s.name] = e
	}
	for name, r := range policy {
		if _, ok := t[name]; !ok && !strings.Contains(name, "|") {
			// A command newer than the table.
			t[name] = newEntry(&spec{name: name}, r, nil)
		}
	}
	return t
}

// newEntry applies rule r to the command s describes; parent is the entry of its command
// when s is a subcommand.
func newEntry(s *spec, r rule, parent *entry) *entry {
	e := &entry{name: strings.ReplaceAll(s.name, "|", " ")}
	e.refusedAs, e.sharedAs = e.name, e.name
	if parent != nil {
		p := parent.rule
		if p.refused != "" && r.refused == "" {
			r.refused, e.refusedAs = p.refused, parent.name
		}
		if p.shared != "" && r.shared == "" {
			r.shared, e.sharedAs = p.shared, parent.name
		}
		r.connState = r.connState || p.connState
		r.script = r.script || p.script
		r.primary = r.primary || p.primary
	}
	e.rule = r
	e.keys = keyRule{first: s.first, last: s.last, step: s.step, movable: s.flags&flagMovableKeys != 0}
	// A command newer than the table (arity 0) may write.
	known := s.arity != 0
	e.info = Info{
		Kind:      Normal,
		Read:      (s.acl&catRead != 0 && !r.notRead) || r.read,
		NoWrite:   s.flags&flagWrite == 0 && !r.primary && len(s.subs) == 0 && known,
		Script:    r.script,
		ConnState: r.connState,
	}
	if len(s.subs) > 0 {
		// A command with subcommands but no known subcommand: Redis refuses it.
		e.info.Read = false
	}
	switch {
	case r.refused != "":
		e.info = Info{Kind: Refused, Script: r.script, ConnState: r.connState}
	case (s.flags&flagBlocking != 0 || r.blocking) && r.special != specialXRead:
		e.info.Kind = Blocking
	}
	e.info.RetrySafe = e.info.Kind == Normal && e.info.NoWrite && s.flags&flagReadonly != 0 && !r.primary
	// One key, the first argument: keys from position 1 to 1, or to the end (EXISTS, MGET:
	// Cacheable then checks that a call names one).
	oneKey := s.first == 1 && (s.last == 1 || (s.last == -1 && s.step == 1))
	e.info.Cacheable = e.info.RetrySafe && oneKey && s.flags&(flagMovableKeys|flagRandom|flagTouchesArbitraryKeys) == 0 &&
		!r.uncacheable && !r.script && r.special == specialNone && len(s.subs) == 0
	e.lastKey = s.last
	return e
}

// Cacheable reports whether a read cache may keep the answer to args: its command is
// Info.Cacheable and this call names one key, args[1].
func Cacheable(args [][]byte) bool {
	if len(args) < 2 {
		return false
	}
	e := find(args)
	if e == nil || !e.info.Cacheable {
		return false
	}
	return e.lastKey == 1 || len(args) == 2
}

// upper writes name upper-cased into dst and returns its length, or -1 when it does not fit.
func upper(dst, name []byte) int {
	if len(name) > len(dst) {
		return -1
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst[i] = c
	}
	return len(name)
}

// nulName stands for command and subcommand names holding a NUL byte. Redis finds commands
// in a hash table whose keys it compares with strcasecmp, which stops at the NUL: with a
// suffix that hashes into the right bucket, "MULTI\x00…" runs MULTI.
var nulName = &entry{
	name: "?", info: Info{Kind: Refused},
	rule: rule{refused: "command names cannot contain NUL bytes"}, refusedAs: "?",
}

// find returns the entry of the command or subcommand args names, or nil for a command the
// table does not know. It does not allocate.
func find(args [][]byte) *entry {
	if len(args) == 0 {
		return nil
	}
	if bytes.IndexByte(args[0], 0) >= 0 {
		return nulName
	}
	var buf [maxName]byte
	n := upper(buf[:], args[0])
	if n < 0 {
		return nil
	}
	e := commands[string(buf[:n])]
	if e == nil || e.subs == nil || len(args) < 2 || n+1 >= len(buf) {
		return e
	}
	if bytes.IndexByte(args[1], 0) >= 0 {
		return nulName
	}
	buf[n] = '|'
	m := upper(buf[n+1:], args[1])
	if m < 0 {
		return e
	}
	if sub := e.subs[string(buf[:n+1+m])]; sub != nil {
		return sub
	}
	return e
}

// Name returns the upper-case name of the command args names.
func Name(args [][]byte) string {
	if len(args) == 0 {
		return ""
	}
	return string(bytes.ToUpper(args[0]))
}

// Lookup describes the command named by args as every scope sees it: Scope.Check also refuses
// what a read-only token, a scope without blocking or a shared server may not run.
func Lookup(args [][]byte) Info {
	e := find(args)
	if e == nil {
		return Info{Kind: Normal}
	}
	info := e.info
	switch e.rule.special {
	case specialXRead:
		if xreadBlock(args, 1) > 0 {
			info.Kind, info.RetrySafe = Blocking, false
		}
	case specialCopy:
		if copyHasDB(args) {
			info.Kind = Refused
		}
	}
	return info
}

// Check returns how the token s describes runs the command args, or the error (a Redis error
// text, such as "ERR command 'MONITOR' is not supported by redisgate: …") it is refused with.
// It does not modify args, and does not allocate for commands it neither refuses nor rewrites.
func (s Scope) Check(args [][]byte) (Plan, error) {
	return s.check(args, false)
}

// CheckInTransaction is Check for a command inside MULTI…EXEC, where nothing blocks.
func (s Scope) CheckInTransaction(args [][]byte) (Plan, error) {
	return s.check(args, true)
}

func (s Scope) check(args [][]byte, tx bool) (Plan, error) {
	if len(args) == 0 {
		return Plan{}, errors.New("ERR empty command")
	}
	e := find(args)
	if e == nil {
		if s.ReadOnly {
			return Plan{}, readOnlyError(Name(args))
		}
		return Plan{Info: Info{Kind: Normal}, Args: args}, nil
	}
	r := &e.rule
	switch {
	case r.refused != "":
		return Plan{}, refusal(e.refusedAs, r.refused)
	case s.Shared && r.shared != "":
		return Plan{}, refusal(e.sharedAs, r.shared)
	case r.special == specialCopy && copyHasDB(args):
		return Plan{}, refusal("COPY", "its DB option reaches another database")
	case s.ReadOnly && !e.info.Read:
		return Plan{}, readOnlyError(e.name)
	}
	p := Plan{Info: e.info, Args: args}
	switch r.special {
	case specialXRead:
		if xreadBlock(args, 1) > 0 {
			p.Info.Kind, p.Info.RetrySafe = Blocking, false
		}
	case specialFlushAll:
		p.Args = replace(args, 0, []byte("FLUSHDB"))
		p.Info = commands["FLUSHDB"].info
	case specialCopy:
		// COPY k k: Upstash answers 0 where Redis 7 answers an error; the script answers 0.
		if s.Shared || s.Confined || len(args) >= 3 && bytes.Equal(args[1], args[2]) {
			if len(args) < 3 {
				return Plan{}, errors.New("ERR wrong number of arguments for 'copy' command")
			}
			p.Args = copyScript(args)
			p.Info = commands["EVAL"].info
		}
	case specialScan:
		if scanWithType(args) {
			p.Args = scanTypesScript(args)
			p.Info = commands["EVAL_RO"].info
		}
	case specialScriptFlush:
		if s.Shared {
			if tx {
				return Plan{}, refusal("SCRIPT FLUSH", "inside /multi-exec on a server that serves other databases too, where the gateway answers it itself")
			}
			p.Info.Kind = Local
		}
	case specialPublish:
		if len(args) >= 2 {
			ch, err := s.publishChannel(args[1])
			if err != nil {
				return Plan{}, err
			}
			if len(ch) != len(args[1]) {
				p.Args = replace(args, 1, ch)
			}
		}
	}
	if p.Info.Kind == Blocking {
		if tx {
			// Inside MULTI Redis runs blocking commands as their non-blocking forms.
			p.Info.Kind = Normal
			return p, nil
		}
		if !s.Blocking {
			return Plan{}, errors.New("ERR blocking command '" + e.name + "' is not supported by redisgate: it would stall a shared connection")
		}
		p.Args, p.Block = capTimeouts(r, p.Args, s.maxBlock())
	}
	return p, nil
}

// refusal is the error of a command the gateway never runs for tenants.
func refusal(name, why string) error {
	return errors.New("ERR command '" + name + "' is not supported by redisgate: " + why)
}

// readOnlyError is the error of a command a read-only token may not run.
func readOnlyError(name string) error {
	return errors.New("NOPERM this token is read-only and cannot run '" + name + "'")
}

// replace returns a copy of args with args[i] replaced by v.
func replace(args [][]byte, i int, v []byte) [][]byte {
	out := make([][]byte, len(args))
	copy(out, args)
	out[i] = v
	return out
}

// copyHasDB reports whether the COPY command args has a DB option.
func copyHasDB(args [][]byte) bool {
	for i := 3; i < len(args); i++ {
		if optionIs(args[i], "DB") {
			return true
		}
	}
	return false
}

// copyLua emulates COPY src dst [REPLACE] within the current database with DUMP and RESTORE,
// answering as COPY does, for servers whose ACL denies COPY (whose DB option ACL cannot deny),
// except that a source that is also the destination answers 0, as Upstash does, where
// Redis 7 answers "ERR source and destination objects are the same".
const copyLua = `local replace = false
for _, o in ipairs(ARGV) do
  if string.lower(o) == 'replace' then replace = true else return redis.error_reply('ERR syntax error') end
end
if KEYS[1] == KEYS[2] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if not replace and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local at = redis.call('PEXPIRETIME', KEYS[1])
if at < 0 then at = 0 end
redis.call('RESTORE', KEYS[2], at, redis.call('DUMP', KEYS[1]), 'ABSTTL', 'REPLACE')
return 1
`

// copyScript returns the EVAL of copyLua for the COPY command args (at least three arguments).
func copyScript(args [][]byte) [][]byte {
	out := make([][]byte, 0, len(args)+2)
	out = append(out, []byte("EVAL"), []byte(copyLua), []byte("2"))
	return append(out, args[1:]...)
}

// publishChannel maps the channel a tenant publishes to onto the Redis one.
func (s Scope) publishChannel(name []byte) ([]byte, error) {
	if bytes.HasPrefix(name, []byte("__")) {
		return nil, reservedChannel(name)
	}
	return s.prefixed(name), nil
}

// prefixed returns name with the scope's channel prefix (name itself when there is none).
func (s Scope) prefixed(name []byte) []byte {
	if s.Channels == "" {
		return name
	}
	out := make([]byte, 0, len(s.Channels)+len(name))
	return append(append(out, s.Channels...), name...)
}

// reservedChannel is the error of a channel name the tenant may not use.
func reservedChannel(name []byte) error {
	return errors.New("ERR channel '" + string(name) + "' is not available through redisgate: names starting with __ are Redis's own")
}

// Channel maps the channel (or, when pattern, the channel pattern) a tenant subscribes to
// onto the Redis one: the scope's prefix followed by name (in a pattern, the prefix with its
// glob characters escaped), or name itself for the keyspace notifications of the token's
// database (names starting with __keyspace@<DB>__: or __keyevent@<DB>__:). Other names
// starting with __ are Redis's own and refused. A pattern, prefixed or starting with the
// literal keyspace prefix, can only match the database's channels.
func (s Scope) Channel(name []byte, pattern bool) ([]byte, error) {
	if bytes.HasPrefix(name, []byte("__")) {
		if s.ownNotifications(name) {
			return name, nil
		}
		return nil, reservedChannel(name)
	}
	if pattern && s.Channels != "" {
		return append([]byte(globEscape(s.Channels)), name...), nil
	}
	return s.prefixed(name), nil
}

// Visible reports whether a message Redis delivered on channel may reach a tenant of s:
// Redis's own channels (names starting with __) only when they carry the keyspace or keyevent
// notifications of the database. A pattern can match them without starting with __ itself
// (`[_]_keyspace@15__:*`), so what a pattern delivers is checked, not only what it says.
func (s Scope) Visible(channel []byte) bool {
	return !bytes.HasPrefix(channel, []byte("__")) || s.ownNotifications(channel)
}

// ownNotifications reports whether name starts with the keyspace or keyevent prefix of s.DB.
func (s Scope) ownNotifications(name []byte) bool {
	var rest []byte
	var ok bool
	if rest, ok = bytes.CutPrefix(name, []byte("__keyspace@")); !ok {
		if rest, ok = bytes.CutPrefix(name, []byte("__keyevent@")); !ok {
			return false
		}
	}
	db := strconv.Itoa(s.DB)
	return bytes.HasPrefix(rest, []byte(db)) && bytes.HasPrefix(rest[len(db):], []byte("__:"))
}

// Unchannel strips the scope's prefix from a channel name or pattern Redis reports (a
// message's channel or pattern), returning name itself when it lacks the prefix.
func (s Scope) Unchannel(name []byte) []byte {
	if s.Channels == "" {
		return name
	}
	if rest, ok := bytes.CutPrefix(name, []byte(s.Channels)); ok {
		return rest
	}
	if esc := globEscape(s.Channels); esc != s.Channels {
		if rest, ok := bytes.CutPrefix(name, []byte(esc)); ok {
			return rest
		}
	}
	return name
}

// maxBlock returns the scope's cap on blocking, in whole milliseconds, at least 1 ms.
func (s Scope) maxBlock() time.Duration {
	m := s.MaxBlock
	if m <= 0 {
		m = DefaultMaxBlock
	}
	return max(m.Truncate(time.Millisecond), time.Millisecond)
}
