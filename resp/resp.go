// Package resp writes Redis commands and reads Redis replies in the RESP2 wire protocol.
//
// Replies are kept as raw bytes: the reader only finds where one reply ends,
// so a reply can be passed on verbatim or walked later with Next.
package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Reply type bytes of RESP2.
const (
	Simple  = '+'
	Error   = '-'
	Integer = ':'
	Bulk    = '$'
	Array   = '*'
)

// MaxBulk is the largest bulk string a reply may carry (Redis's own proto-max-bulk-len default).
const MaxBulk = 512 << 20

// MaxArray is the largest element count an array reply may declare.
const MaxArray = 1 << 30

// ErrProtocol reports a reply that does not follow RESP2.
var ErrProtocol = errors.New("resp: protocol error")

// ErrTooLarge reports a reply larger than the reader's limit.
var ErrTooLarge = errors.New("resp: reply too large")

// AppendCommand appends args encoded as one RESP command (an array of bulk strings) to dst.
func AppendCommand(dst []byte, args [][]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// CommandSize returns how many bytes AppendCommand adds for args.
func CommandSize(args [][]byte) int {
	n := 3 + digits(len(args))
	for _, a := range args {
		n += 5 + digits(len(a)) + len(a)
	}
	return n
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// AppendBulk appends b encoded as a RESP bulk string to dst.
func AppendBulk(dst, b []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// AppendError appends msg encoded as a RESP error reply to dst; CR and LF in msg become spaces.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\r', '\n')
}

// ReadReply reads one complete reply from r and appends its raw bytes to dst.
// It refuses replies whose raw size would exceed max bytes (max <= 0 means no limit
// beyond MaxBulk per string).
func ReadReply(r *bufio.Reader, dst []byte, max int) ([]byte, error) {
	start := len(dst)
	for pending := 1; pending > 0; pending-- {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return dst, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, r.Size())
			}
			return dst, err
		}
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return dst, fmt.Errorf("%w: malformed line %q", ErrProtocol, truncate(line))
		}
		dst = append(dst, line...)
		switch line[0] {
		case Simple, Error, Integer:
		case Bulk:
			n, err := parseLen(line[1:len(line)-2], MaxBulk)
			if err != nil {
				return dst, err
			}
			if n < 0 {
				continue
			}
			if max > 0 && len(dst)-start+n+2 > max {
				return dst, ErrTooLarge
			}
			dst, err = readN(r, dst, n+2)
			if err != nil {
				return dst, err
			}
			if dst[len(dst)-2] != '\r' || dst[len(dst)-1] != '\n' {
				return dst, fmt.Errorf("%w: bulk string not terminated by CRLF", ErrProtocol)
			}
		case Array:
			n, err := parseLen(line[1:len(line)-2], MaxArray)
			if err != nil {
				return dst, err
			}
			if n > 0 {
				pending += n
			}
		default:
			return dst, fmt.Errorf("%w: unknown reply type %q", ErrProtocol, line[0])
		}
		if max > 0 && len(dst)-start > max {
			return dst, ErrTooLarge
		}
	}
	return dst, nil
}

// readN appends exactly n bytes from r to dst.
func readN(r *bufio.Reader, dst []byte, n int) ([]byte, error) {
	l := len(dst)
	if cap(dst)-l < n {
		grown := make([]byte, l, l+n)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:l+n]
	_, err := io.ReadFull(r, dst[l:])
	return dst, err
}

// parseLen parses a RESP length: -1 or a non-negative decimal no larger than max.
func parseLen(b []byte, max int) (int, error) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return -1, nil
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, fmt.Errorf("%w: bad length %q", ErrProtocol, b)
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: bad length %q", ErrProtocol, b)
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return 0, fmt.Errorf("%w: length %d over limit %d", ErrProtocol, n, max)
	}
	return n, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// Next splits the first reply off raw, which must hold complete replies as ReadReply returns them.
// For simple strings, errors and integers, data is the line without type byte and CRLF;
// for bulk strings it is the payload (nil for the null bulk string); for arrays it is nil
// and n is the element count (-1 for the null array), the elements following in rest.
func Next(raw []byte) (kind byte, data []byte, n int, rest []byte, err error) {
	i := 0
	for i < len(raw) && raw[i] != '\n' {
		i++
	}
	if i == len(raw) || i < 2 || raw[i-1] != '\r' {
		return 0, nil, 0, nil, fmt.Errorf("%w: truncated reply", ErrProtocol)
	}
	kind, line, rest := raw[0], raw[1:i-1], raw[i+1:]
	switch kind {
	case Simple, Error, Integer:
		return kind, line, 0, rest, nil
	case Bulk:
		n, err := parseLen(line, MaxBulk)
		if err != nil {
			return 0, nil, 0, nil, err
		}
		if n < 0 {
			return kind, nil, -1, rest, nil
		}
		if len(rest) < n+2 {
			return 0, nil, 0, nil, fmt.Errorf("%w: truncated bulk string", ErrProtocol)
		}
		return kind, rest[:n:n], n, rest[n+2:], nil
	case Array:
		n, err := parseLen(line, MaxArray)
		if err != nil {
			return 0, nil, 0, nil, err
		}
		return kind, nil, n, rest, nil
	}
	return 0, nil, 0, nil, fmt.Errorf("%w: unknown reply type %q", ErrProtocol, kind)
}

// Skip returns raw without its first complete reply.
func Skip(raw []byte) ([]byte, error) {
	for pending := 1; pending > 0; pending-- {
		kind, _, n, rest, err := Next(raw)
		if err != nil {
			return nil, err
		}
		if kind == Array && n > 0 {
			pending += n
		}
		raw = rest
	}
	return raw, nil
}

// Decode parses the first reply of raw into Go values (a string for simple and bulk strings,
// int64, nil for null, []any for arrays; an error reply as an error) and returns the rest.
func Decode(raw []byte) (any, []byte, error) {
	kind, data, n, rest, err := Next(raw)
	if err != nil {
		return nil, nil, err
	}
	switch kind {
	case Simple:
		return string(data), rest, nil
	case Error:
		return nil, rest, errors.New(string(data))
	case Integer:
		i, err := strconv.ParseInt(string(data), 10, 64)
		return i, rest, err
	case Bulk:
		if n < 0 {
			return nil, rest, nil
		}
		return string(data), rest, nil
	}
	if n < 0 {
		return nil, rest, nil
	}
	out := make([]any, n)
	for i := range out {
		if out[i], rest, err = Decode(rest); err != nil {
			return nil, nil, err
		}
	}
	return out, rest, nil
}
