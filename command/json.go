package command

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// ParseJSON parses a body holding one command as a JSON array of strings, numbers and booleans.
// Strings that need no unescaping alias body.
func ParseJSON(body []byte) ([][]byte, error) {
	p := jsonParser{b: body}
	p.space()
	args, err := p.command()
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return args, nil
}

// ParseJSONList parses a body holding a JSON array of commands, as /pipeline and /multi-exec take.
// It fails when there are more than max commands (max <= 0 means no limit).
func ParseJSONList(body []byte, max int) ([][][]byte, error) {
	p := jsonParser{b: body}
	p.space()
	if !p.consume('[') {
		return nil, p.errorf("expected an array of commands")
	}
	var cmds [][][]byte
	p.space()
	if p.consume(']') {
		return nil, ErrEmpty
	}
	for {
		if max > 0 && len(cmds) == max {
			return nil, fmt.Errorf("%w: more than %d commands", ErrTooMany, max)
		}
		p.space()
		args, err := p.command()
		if err != nil {
			return nil, fmt.Errorf("command %d: %w", len(cmds), err)
		}
		cmds = append(cmds, args)
		p.space()
		if p.consume(']') {
			break
		}
		if !p.consume(',') {
			return nil, p.errorf("expected ',' or ']' after command %d", len(cmds)-1)
		}
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return cmds, nil
}

// ErrEmpty reports a request that names no command.
var ErrEmpty = errors.New("empty command")

// ErrTooMany reports a request with more commands or arguments than allowed.
var ErrTooMany = errors.New("too many")

// ErrSyntax reports a body that is not the JSON a command needs.
var ErrSyntax = errors.New("invalid JSON")

// ErrPath reports a request path that does not name a command.
var ErrPath = errors.New("invalid path")

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, p.i, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) end() error {
	p.space()
	if p.i != len(p.b) {
		return p.errorf("unexpected data after the value")
	}
	return nil
}

// command parses one array of scalars.
func (p *jsonParser) command() ([][]byte, error) {
	if !p.consume('[') {
		if p.i < len(p.b) && p.b[p.i] == '{' {
			return nil, p.errorf("a command is an array, not an object")
		}
		return nil, p.errorf("expected '[' to start a command")
	}
	p.space()
	if p.consume(']') {
		return nil, ErrEmpty
	}
	args := make([][]byte, 0, 4)
	for {
		p.space()
		a, err := p.scalar()
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", len(args), err)
		}
		args = append(args, a)
		p.space()
		if p.consume(']') {
			return args, nil
		}
		if !p.consume(',') {
			return nil, p.errorf("expected ',' or ']' after argument %d", len(args)-1)
		}
	}
}

func (p *jsonParser) scalar() ([]byte, error) {
	if p.i >= len(p.b) {
		return nil, p.errorf("unexpected end of body")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		if _, err := p.literal("null"); err != nil {
			return nil, err
		}
		p.i -= len("null")
		return nil, p.errorf("null is not a valid argument")
	case c == '{' || c == '[':
		return nil, p.errorf("arguments must be strings, numbers or booleans, not %s", map[byte]string{'{': "objects", '[': "arrays"}[c])
	default:
		return nil, p.errorf("unexpected character %q", c)
	}
}

func (p *jsonParser) literal(word string) ([]byte, error) {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return nil, p.errorf("invalid literal")
	}
	v := p.b[p.i : p.i+len(word) : p.i+len(word)]
	p.i += len(word)
	return v, nil
}

// number checks JSON number grammar and returns its literal text.
func (p *jsonParser) number() ([]byte, error) {
	start := p.i
	p.consume('-')
	switch {
	case p.consume('0'):
	case p.digits() == 0:
		return nil, p.errorf("invalid number")
	}
	if p.consume('.') && p.digits() == 0 {
		return nil, p.errorf("invalid number")
	}
	if p.consume('e') || p.consume('E') {
		if !p.consume('+') {
			p.consume('-')
		}
		if p.digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	return p.b[start:p.i:p.i], nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// str parses a JSON string. Invalid UTF-8 is kept byte for byte.
func (p *jsonParser) str() ([]byte, error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			v := p.b[start:p.i:p.i]
			p.i++
			return v, nil
		}
		if c == '\\' {
			return p.unescape(start)
		}
		if c < 0x20 {
			return nil, p.errorf("control character in string")
		}
		p.i++
	}
	return nil, p.errorf("unterminated string")
}

// unescape continues a string at its first backslash, copying into a new slice.
func (p *jsonParser) unescape(start int) ([]byte, error) {
	out := make([]byte, p.i-start, p.i-start+16)
	copy(out, p.b[start:p.i])
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, nil
		case c < 0x20:
			return nil, p.errorf("control character in string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			break
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A valid surrogate pair is one rune; a lone surrogate becomes U+FFFD, as in encoding/json.
				r = p.lowSurrogate(r)
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, p.errorf("invalid escape '\\%c'", e)
		}
	}
	return nil, p.errorf("unterminated string")
}

// lowSurrogate consumes a \uXXXX low surrogate completing high and returns the pair's rune,
// or returns U+FFFD and consumes nothing.
func (p *jsonParser) lowSurrogate(high rune) rune {
	if len(p.b)-p.i < 6 || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
		return utf8.RuneError
	}
	save := p.i
	p.i += 2
	low, ok := p.hex4()
	if r := utf16.DecodeRune(high, low); ok && r != utf8.RuneError {
		return r
	}
	p.i = save
	return utf8.RuneError
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
