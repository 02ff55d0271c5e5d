package command

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// keyRule says where a command's keys are: the legacy positions of COMMAND INFO (first, last
// with -1 counting from the end, step) and, for commands whose keys move with their arguments
// (COMMAND INFO's movablekeys), the rule of keyIndexes written for each.
type keyRule struct {
	first, last, step int
	movable           bool
}

// ErrKeys reports a command whose key arguments cannot be found (a bad numkeys, a STREAMS
// option without as many IDs as keys); Redis would refuse it too.
var ErrKeys = errors.New("ERR cannot find the keys of the command")

// KeyIndexes appends to dst the indexes in args of the keys the command args names, in order,
// as Redis's COMMAND GETKEYS reports them; a command the table does not know has none.
func KeyIndexes(args [][]byte, dst []int) ([]int, error) {
	e := find(args)
	if e == nil {
		return dst, nil
	}
	k := e.keys
	if k.movable {
		return movableKeys(args, dst)
	}
	if k.first <= 0 || k.first >= len(args) {
		return dst, nil
	}
	last := k.last
	if last < 0 {
		last += len(args)
	}
	last = min(last, len(args)-1)
	step := max(k.step, 1)
	for i := k.first; i <= last; i += step {
		dst = append(dst, i)
	}
	return dst, nil
}

// movableKeys finds the keys of the commands COMMAND INFO marks movablekeys.
func movableKeys(args [][]byte, dst []int) ([]int, error) {
	var name [maxName]byte
	n := upper(name[:], args[0])
	if n < 0 {
		return dst, nil
	}
	switch string(name[:n]) {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
		return numKeys(args, 2, 3, dst)
	case "ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD", "SINTERCARD", "LMPOP", "ZMPOP":
		return numKeys(args, 1, 2, dst)
	case "BLMPOP", "BZMPOP":
		return numKeys(args, 2, 3, dst)
	case "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE":
		if len(args) < 3 {
			return dst, ErrKeys
		}
		return numKeys(args, 2, 3, append(dst, 1))
	case "XREAD", "XREADGROUP":
		for i := 1; i < len(args); i++ {
			if bytes.EqualFold(args[i], []byte("STREAMS")) {
				rest := len(args) - i - 1
				if rest == 0 || rest%2 != 0 {
					return dst, ErrKeys
				}
				for j := i + 1; j <= i+rest/2; j++ {
					dst = append(dst, j)
				}
				return dst, nil
			}
		}
		return dst, ErrKeys
	case "SORT", "SORT_RO":
		if len(args) < 2 {
			return dst, nil
		}
		dst = append(dst, 1)
		for i := 2; i < len(args); i++ {
			switch {
			case bytes.EqualFold(args[i], []byte("STORE")) && i+1 < len(args):
				return append(dst, i+1), nil
			case bytes.EqualFold(args[i], []byte("LIMIT")):
				i += 2
			case bytes.EqualFold(args[i], []byte("BY")), bytes.EqualFold(args[i], []byte("GET")):
				i++
			}
		}
		return dst, nil
	case "GEORADIUS", "GEORADIUSBYMEMBER":
		if len(args) < 2 {
			return dst, nil
		}
		dst = append(dst, 1)
		for i := 2; i+1 < len(args); i++ {
			if bytes.EqualFold(args[i], []byte("STORE")) || bytes.EqualFold(args[i], []byte("STOREDIST")) {
				return append(dst, i+1), nil
			}
		}
		return dst, nil
	case "MIGRATE":
		// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH …] [KEYS key …]
		if len(args) > 3 && len(args[3]) > 0 {
			return append(dst, 3), nil
		}
		for i := 6; i < len(args); i++ {
			if bytes.EqualFold(args[i], []byte("KEYS")) {
				for j := i + 1; j < len(args); j++ {
					dst = append(dst, j)
				}
				return dst, nil
			}
		}
		return dst, nil
	}
	return dst, fmt.Errorf("%w: %s", ErrKeys, name[:n])
}

// numKeys appends the keys counted by the numkeys argument at args[at], which start at args[from].
func numKeys(args [][]byte, at, from int, dst []int) ([]int, error) {
	if at >= len(args) {
		return dst, ErrKeys
	}
	n, err := strconv.Atoi(string(args[at]))
	if err != nil || n < 0 || from+n > len(args) {
		return dst, ErrKeys
	}
	for i := from; i < from+n; i++ {
		dst = append(dst, i)
	}
	return dst, nil
}
