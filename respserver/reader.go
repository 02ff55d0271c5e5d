package respserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// ProtocolError is a request that does not follow RESP or passes a limit: the connection
// answers it with an error reply and closes, as Redis does.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

// errBudget reports that the server-wide budget of request bytes in flight is spent.
var errBudget = errors.New("ERR the gateway holds too many request bytes in flight; retry later")

// limits bound one command a reader accepts.
type limits struct {
	maxArgs    int // arguments of one command
	maxBytes   int // bytes of one command's arguments together (one argument included)
	maxInline  int // bytes of one inline command line
	reserveFor func(n int64) bool
}

// argCost is what the reader charges for an argument besides its bytes: its slice header
// and its share of bookkeeping, so that a million one-byte arguments are not free.
const argCost = 32

// reserveStep is the granularity of charges to the server-wide budget.
const reserveStep = 64 << 10

// reader reads commands (multibulk arrays of bulk strings, or inline lines) from a client.
//
// The arguments a command returns point into the reader's arena and stay valid until reset;
// the memory behind them grows with the bytes that arrive, never with announced lengths.
type reader struct {
	br  *bufio.Reader
	lim limits

	arena    []byte
	args     [][]byte
	offs     []int // offsets in arena of args (the arena may move while a command is read)
	used     int64 // bytes charged by commands since reset
	reserved int64 // bytes taken from the server-wide budget since reset
}

func newReader(r io.Reader, size int, lim limits) *reader {
	return &reader{br: bufio.NewReaderSize(r, size), lim: lim}
}

// reset forgets every command read so far: their arguments must no longer be used. It
// returns the bytes that were taken from the server-wide budget, to give back.
func (r *reader) reset() int64 {
	if cap(r.arena) > 1<<20 {
		r.arena = nil // do not keep a large arena alive between batches
	} else {
		r.arena = r.arena[:0]
	}
	r.used = 0
	n := r.reserved
	r.reserved = 0
	return n
}

// buffered reports whether bytes of a next command are already read from the connection.
func (r *reader) buffered() bool { return r.br.Buffered() > 0 }

// charge counts n more bytes against the budget.
func (r *reader) charge(n int) error {
	r.used += int64(n)
	for r.used > r.reserved {
		if r.lim.reserveFor != nil && !r.lim.reserveFor(reserveStep) {
			return errBudget
		}
		r.reserved += reserveStep
	}
	return nil
}

// pending returns the bytes charged since reset.
func (r *reader) pending() int64 { return r.used }

// command reads the next command; it returns nil args for an empty one (an empty line, or
// "*0"), which Redis ignores. The returned slice is reused by the next call.
func (r *reader) command() ([][]byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return nil, err
	}
	if c != '*' {
		r.br.UnreadByte()
		return r.inline()
	}
	line, err := r.line(64 << 10)
	if err != nil {
		return nil, err
	}
	n, ok := parseInt(line)
	switch {
	case !ok:
		return nil, &ProtocolError{"invalid multibulk length"}
	case n <= 0:
		return nil, nil
	case n > int64(r.lim.maxArgs):
		return nil, &ProtocolError{"invalid multibulk length (more than " + strconv.Itoa(r.lim.maxArgs) + " arguments)"}
	}
	r.offs = r.offs[:0]
	total := 0
	for range n {
		c, err := r.br.ReadByte()
		if err != nil {
			return nil, err
		}
		if c != '$' {
			return nil, &ProtocolError{"expected '$', got " + strconv.QuoteRune(rune(c))}
		}
		line, err := r.line(64)
		if err != nil {
			return nil, err
		}
		size, ok := parseInt(line)
		if !ok || size < 0 || size > int64(r.lim.maxBytes) {
			return nil, &ProtocolError{"invalid bulk length"}
		}
		if total += int(size); total > r.lim.maxBytes {
			return nil, &ProtocolError{"command larger than " + strconv.Itoa(r.lim.maxBytes) + " bytes"}
		}
		if err := r.charge(int(size) + argCost); err != nil {
			return nil, err
		}
		r.offs = append(r.offs, len(r.arena))
		if err := r.bulk(int(size)); err != nil {
			return nil, err
		}
	}
	return r.split(), nil
}

// split returns the arguments whose offsets are in r.offs, the last ending at the arena's end.
func (r *reader) split() [][]byte {
	r.args = r.args[:0]
	for i, off := range r.offs {
		end := len(r.arena)
		if i+1 < len(r.offs) {
			end = r.offs[i+1]
		}
		r.args = append(r.args, r.arena[off:end:end])
	}
	return r.args
}

// bulk appends n bytes of payload and its CRLF terminator, checked, to the arena.
func (r *reader) bulk(n int) error {
	for n > 0 {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return unexpected(err)
			}
		}
		chunk := min(n, r.br.Buffered())
		b, _ := r.br.Peek(chunk)
		r.arena = append(r.arena, b...)
		r.br.Discard(chunk)
		n -= chunk
	}
	var crlf [2]byte
	if _, err := io.ReadFull(r.br, crlf[:]); err != nil {
		return unexpected(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return &ProtocolError{"bulk string not terminated by CRLF"}
	}
	return nil
}

// line reads a CRLF-terminated line of at most max bytes and returns it without CRLF; it is
// valid until the next read.
func (r *reader) line(max int) ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull), err == nil && len(b) > max+2:
		return nil, &ProtocolError{"too big count string"}
	case err != nil:
		return nil, unexpected(err)
	case len(b) < 2 || b[len(b)-2] != '\r':
		return nil, &ProtocolError{"line not terminated by CRLF"}
	}
	return b[:len(b)-2], nil
}

// inline reads a command sent as one line of words, as telnet and redis-cli's interactive
// mode may send it.
func (r *reader) inline() ([][]byte, error) {
	var long []byte // the line, when it does not fit in the buffer
	var line []byte
	for {
		b, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(b) > r.lim.maxInline {
				return nil, &ProtocolError{"too big inline request"}
			}
			long = append(long, b...)
			continue
		}
		if err != nil {
			return nil, unexpected(err)
		}
		if long != nil {
			line = append(long, b...)
		} else {
			line = b
		}
		break
	}
	if len(line) > r.lim.maxInline+1 {
		return nil, &ProtocolError{"too big inline request"}
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	if err := r.charge(len(line) + argCost); err != nil {
		return nil, err
	}
	r.offs = r.offs[:0]
	tooMany := false
	ok := splitArgs(line, func(arg []byte) bool {
		if len(r.offs) >= r.lim.maxArgs {
			tooMany = true
			return false
		}
		r.offs = append(r.offs, len(r.arena))
		r.arena = append(r.arena, arg...)
		return true
	})
	switch {
	case tooMany:
		return nil, &ProtocolError{"too many arguments in inline request"}
	case !ok:
		return nil, &ProtocolError{"unbalanced quotes in request"}
	case len(r.offs) == 0:
		return nil, nil
	}
	return r.split(), nil
}

// unexpected turns an end of input inside a command into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseInt parses a signed decimal of at most 18 digits.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// splitArgs splits an inline command line into words as redis-cli and Redis do (sdssplitargs):
// blanks separate words; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes; 'single
// quotes' take \'; a closing quote must be followed by a blank or the end. It calls emit for
// each word and reports false on unbalanced quotes, or when emit does.
func splitArgs(line []byte, emit func([]byte) bool) bool {
	var cur []byte
	i := 0
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' }
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return true
		}
		cur = cur[:0]
		inq, insq := false, false
		for {
			if inq {
				if i == len(line) {
					return false
				}
				c := line[i]
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 3
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case c == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return false
					}
					inq = false
					i++
					goto word
				default:
					cur = append(cur, c)
				}
				i++
				continue
			}
			if insq {
				if i == len(line) {
					return false
				}
				c := line[i]
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					cur = append(cur, '\'')
					i++
				case c == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return false
					}
					insq = false
					i++
					goto word
				default:
					cur = append(cur, c)
				}
				i++
				continue
			}
			if i == len(line) || isSpace(line[i]) {
				goto word
			}
			switch line[i] {
			case '"':
				inq = true
			case '\'':
				insq = true
			default:
				cur = append(cur, line[i])
			}
			i++
		}
	word:
		if !emit(cur) {
			return false
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
