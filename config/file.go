package config

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FileError is an error in the config file: Line is the line at fault (1-based; 0 when
// unknown), Key the dotted path of the key (databases[0].tokens; empty for syntax errors).
type FileError struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error reads "config.yaml line 12: tokens: expected a list of strings".
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func readFile(name string, c *Config) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return decodeFile(name, b, c)
}

// decodeFile decodes the YAML document b, read from the file name, over c. The document is
// first checked against Config's fields, so that its errors name the file, the line and the
// key, and say what was expected, in the syntax of flags and environment variables.
func decodeFile(name string, b []byte, c *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return syntaxError(name, b, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty, or only comments
	}
	root := doc.Content[0]
	if err := checkNode(name, root, reflect.TypeFor[Config](), "", false); err != nil {
		return err
	}
	if err := root.Decode(c); err != nil {
		return &FileError{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return nil
}

// cutYAMLPrefix splits the YAML parser's message "yaml: line 3: found …" into 3 and "found …".
func cutYAMLPrefix(msg string) (line int, rest string) {
	rest = strings.TrimPrefix(msg, "yaml: ")
	if r, ok := strings.CutPrefix(rest, "line "); ok {
		if num, tail, ok := strings.Cut(r, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return n, tail
			}
		}
	}
	return 0, rest
}

// syntaxError turns the YAML parser's err into a FileError at the right line. The parser
// reports some errors at the line where the enclosing block starts, or one line early, so
// the line is the first one at which the file, cut after it, fails with the same error.
func syntaxError(name string, b []byte, err error) error {
	line, msg := cutYAMLPrefix(err.Error())
	lines := strings.SplitAfter(string(b), "\n")
	for i := range lines {
		var n yaml.Node
		perr := yaml.Unmarshal([]byte(strings.Join(lines[:i+1], "")), &n)
		if perr == nil {
			continue
		}
		if _, pm := cutYAMLPrefix(perr.Error()); pm == msg {
			line = i + 1
		}
		break
	}
	if line > 0 && line <= len(lines) {
		text := lines[line-1]
		if indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]; strings.Contains(indent, "\t") {
			return &FileError{File: name, Line: line, Msg: "a tab in the indentation; indent with spaces"}
		}
	}
	return &FileError{File: name, Line: line, Msg: explainSyntax(msg)}
}

// explainSyntax rewrites the YAML parser's commonest messages in plain words.
func explainSyntax(msg string) string {
	switch msg {
	case "found a tab character that violates indentation":
		return "a tab in the indentation; indent with spaces"
	case "did not find expected ',' or ']'":
		return `a list in [ ] is not closed, or lacks a ","`
	case "mapping values are not allowed in this context":
		return `a second ":" on the line (quote a value that holds ": ", or check the indentation)`
	case "did not find expected key":
		return "this line is indented differently from the keys above it"
	case "did not find expected '-' indicator":
		return "this line is indented differently from the list items above it"
	case "could not find expected ':'":
		return `expected "key: value"`
	case "found unexpected end of stream":
		return "the file ends inside a quoted string or a bracket"
	}
	return msg
}

// checkNode checks that n can be decoded into a value of type t, found at key path; its
// errors are FileErrors. The value of a secret key (a token) is never shown.
func checkNode(file string, n *yaml.Node, t reflect.Type, path string, secret bool) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	got := func() string {
		if secret && n.Kind == yaml.ScalarNode {
			return "a string (not shown: it is secret)"
		}
		return kindName(n)
	}
	fail := func(format string, args ...any) error {
		return &FileError{File: file, Line: n.Line, Key: path, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // key: (nothing) keeps the value
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[Replica]() && n.Kind == yaml.ScalarNode:
		return nil // a URL alone, which checkURLs checks
	case t == reflect.TypeFor[Regions]() && n.Kind == yaml.MappingNode:
		return checkRegionsNode(file, n, path)
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		if n.Kind != yaml.ScalarNode {
			return fail("expected %s, got %s", describe(t), got())
		}
		v := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := v.UnmarshalText([]byte(n.Value)); err != nil {
			return fail("%s", err.Error())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("expected %s, got %s", describe(t), got())
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				return &FileError{File: file, Line: k.Line, Key: key, Msg: fmt.Sprintf("given twice (first at line %d)", first)}
			}
			seen[k.Value] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown key %q", k.Value)
				if s := suggest(k.Value, keys(fields)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				where := path
				if where != "" {
					where = "in " + where
				}
				return &FileError{File: file, Line: k.Line, Key: where, Msg: msg}
			}
			if err := checkNode(file, v, f.Type, key, f.Tag.Get("secret") == "true"); err != nil {
				return err
			}
			if f.Tag.Get("check") == "redis-url" {
				if err := checkURLs(file, v, key); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fail("expected %s, got %s", describe(t), got())
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			// Keys of maps are tokens: never shown.
			if err := checkNode(file, n.Content[i+1], t.Elem(), path+"[…]", secret); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("expected %s, got %s", describe(t), got())
		}
		for i, e := range n.Content {
			if err := checkNode(file, e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), secret); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return fail("expected %s, got %s", describe(t), got())
		}
	case reflect.Bool:
		// yes, no, on and off are YAML 1.1's booleans, which the decoder still accepts.
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!bool" && !oldBool(n.Value)) {
			return fail("expected %s, got %s", describe(t), got())
		}
	case reflect.Int, reflect.Int64:
		if t == reflect.TypeFor[time.Duration]() {
			if n.Kind != yaml.ScalarNode {
				return fail("expected %s, got %s", describe(t), got())
			}
			if _, err := parseDuration(n.Value); err != nil {
				return fail("%s", err.Error())
			}
			return nil
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return fail("expected %s, got %s", describe(t), got())
		}
		if _, err := strconv.ParseInt(n.Value, 0, t.Bits()); err != nil {
			return fail("%s is out of range", n.Value)
		}
	}
	return nil
}

func oldBool(s string) bool {
	switch strings.ToLower(s) {
	case "yes", "no", "on", "off":
		return true
	}
	return false
}

// checkURLs checks that n, a string or a list of them at key path, holds Redis URLs.
func checkURLs(file string, n *yaml.Node, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for i, e := range n.Content {
			if err := checkURLs(file, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return nil
	}
	if err := redisURLError(n.Value); err != nil {
		return &FileError{File: file, Line: n.Line, Key: path, Msg: err.Error()}
	}
	return nil
}

// yamlFields maps the YAML keys of struct type t to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" && f.IsExported() {
			m[name] = f
		}
	}
	return m
}

func keys(m map[string]reflect.StructField) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe says in words what a value of type t is written as.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Size]():
		return sizeSyntax
	case reflect.TypeFor[time.Duration]():
		return durationSyntax
	case reflect.TypeFor[[]Replica]():
		return replicaSyntax
	case reflect.TypeFor[Regions]():
		return regionsSyntax + ", or a mapping of host:port to region"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem())
	case reflect.Struct, reflect.Map:
		return "a mapping of keys to values"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list of mappings"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	}
	return t.String()
}

// kindName says in words what node n is.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || n.Tag == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// suggest returns the name of names nearest to key, when it is near enough to be a typo;
// "-" and "_" count as the same, and a name that key begins (max_body for max_body_bytes) is near.
func suggest(key string, names []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	key = norm(key)
	best, bestD := "", 3
	for _, name := range names {
		n := norm(name)
		d := editDistance(key, n)
		if strings.HasPrefix(n, key+"_") {
			d = 1
		}
		if d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if bestD >= len(key) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkRegionsNode checks a mapping of host:port to region at key path.
func checkRegionsNode(file string, n *yaml.Node, path string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := fmt.Sprintf("%s[%s]", path, k.Value)
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return &FileError{File: file, Line: k.Line, Key: path, Msg: "expected a mapping of host:port to region"}
		}
		if err := checkRegionEntry(k.Value, v.Value); err != nil {
			return &FileError{File: file, Line: k.Line, Key: at, Msg: err.Error()}
		}
	}
	return nil
}
