package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// parseInt parses a whole number, with an error written for people.
func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// parseInt64 is parseInt for 64-bit counts.
func parseInt64(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// parseBool parses true or false (also 1, 0, t, f, in any case), with an error written for people.
func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", s)
	}
	return b, nil
}

// flagError rewrites the flag package's parse errors: an unknown flag gets the flag meant, a
// missing value gets the syntax.
func flagError(err error, opts []option) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		names := []string{"config"}
		for _, o := range opts {
			names = append(names, o.flag)
		}
		if s := suggest(name, names); s != "" {
			return fmt.Errorf("unknown flag --%s (did you mean --%s?)", name, s)
		}
		return fmt.Errorf("unknown flag --%s (redisgate --help lists them)", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		return fmt.Errorf("--%s needs a value, as in --%s=VALUE", name, name)
	}
	return err
}

// argumentError explains args[first], a word left after the flags: most often the value of
// a boolean flag written with a space (--cache true), which the flag package cannot tell
// from an argument.
func argumentError(args []string, first int, def Config, opts []option) error {
	arg := args[first]
	if first > 0 {
		prev := args[first-1]
		name := strings.TrimLeft(prev, "-")
		if strings.HasPrefix(prev, "-") && !strings.Contains(name, "=") {
			for _, o := range opts {
				if o.flag != name {
					continue
				}
				if d := o.get(&def); d == "true" || d == "false" {
					if _, err := parseBool(arg); err == nil {
						return fmt.Errorf("unexpected argument %q after --%s: a boolean flag takes its value after \"=\", as in --%s=%s (--%s alone means true)", arg, name, name, arg, name)
					}
				}
			}
		}
	}
	if first > 0 && args[first-1] == "--" {
		return errors.New("unexpected argument " + strconv.Quote(arg) + ` after "--": flags come before it`)
	}
	return fmt.Errorf("unexpected argument %q: redisgate takes only flags (--name=value)", arg)
}
