package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is a number of bytes, written the same way in flags, environment variables and the
// config file: a plain count (1048576) or a count with a unit, binary (KiB, MiB, GiB) or
// decimal (KB, MB, GB, B), with or without a space before it ("10MiB", "4 KiB").
type Size int

// sizeUnits lists the units of a Size, longest suffixes first so that "KiB" is not read as "B".
func sizeUnits() []struct {
	suffix string
	mult   int
} {
	return []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
}

// sizeSyntax says, in an error message, how a size is written.
const sizeSyntax = "a number of bytes, optionally followed by KiB, MiB, GiB, KB, MB or GB, as in 10MiB"

// ParseSize parses a byte count such as 1048576, 512KiB or 10MiB.
func ParseSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	mult := 1
	for _, u := range sizeUnits() {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 || (mult > 1 && n > int(^uint(0)>>1)/mult) {
		return 0, fmt.Errorf("%q is not a size (%s)", s, sizeSyntax)
	}
	return n * mult, nil
}

// UnmarshalText parses a size as ParseSize does.
func (z *Size) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*z = Size(n)
	return nil
}

// MarshalText writes the size in the largest binary unit that divides it (10MiB, 4KiB, 1000).
func (z Size) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

// String writes the size as MarshalText does.
func (z Size) String() string {
	n := int(z)
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.Itoa(n/u.mult) + u.suffix
		}
	}
	return strconv.Itoa(n)
}

// durationSyntax says, in an error message, how a duration is written.
const durationSyntax = "a duration such as 500ms, 30s, 5m or 1h30m"

// parseDuration parses a duration as time.ParseDuration does ("0" included), with an error
// that says how durations are written.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not %s", s, durationSyntax)
	}
	return d, nil
}

// LogLevel is the least severe level logged: debug, info, warn or error.
type LogLevel string

// UnmarshalText accepts debug, info, warn or error.
func (l *LogLevel) UnmarshalText(b []byte) error {
	return setEnum((*string)(l), string(b), "debug", "info", "warn", "error")
}

// LogFormat is the form of log lines: text or json.
type LogFormat string

// UnmarshalText accepts text or json.
func (f *LogFormat) UnmarshalText(b []byte) error {
	return setEnum((*string)(f), string(b), "text", "json")
}

// Isolation is how databases are kept inside their logical database: IsolationACL or IsolationOff.
type Isolation string

// UnmarshalText accepts acl or off.
func (i *Isolation) UnmarshalText(b []byte) error {
	return setEnum((*string)(i), string(b), IsolationACL, IsolationOff)
}

// setEnum sets *p to v when v is one of allowed; its error lists them and suggests the one
// meant.
func setEnum(p *string, v string, allowed ...string) error {
	t := strings.ToLower(strings.TrimSpace(v))
	for _, a := range allowed {
		if t == a {
			*p = a
			return nil
		}
	}
	list := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	if s := suggest(t, allowed); s != "" && t != "" {
		return fmt.Errorf("%q is not %s (did you mean %s?)", v, list, s)
	}
	return fmt.Errorf("%q is not %s", v, list)
}
