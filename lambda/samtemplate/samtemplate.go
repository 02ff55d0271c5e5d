// Package samtemplate checks the structure of an AWS SAM template for Go functions on
// provided.al2023: what cfn-lint would catch in this repository's sam-template.yaml, without
// cfn-lint (a Python tool).
package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse reads a CloudFormation YAML template into maps, slices and scalars, turning the short
// forms of intrinsic functions (!Ref X, !Sub s, !GetAtt A.B, !If […]…) into their long forms
// ({"Ref": X}, {"Fn::Sub": s}, {"Fn::GetAtt": [A, B]}, {"Fn::If": […]}).
func Parse(src []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("parse template: empty document")
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parse template: top level is not a mapping")
	}
	return m, nil
}

// convert turns a YAML node into plain values, expanding CloudFormation tags.
func convert(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return convert(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := n.Tag[1:]
		plain := *n
		plain.Tag = ""
		v, err := convert(&plain)
		if err != nil {
			return nil, err
		}
		switch name {
		case "Ref", "Condition":
			return map[string]any{name: v}, nil
		case "GetAtt":
			if s, ok := v.(string); ok {
				res, attr, found := strings.Cut(s, ".")
				if !found {
					return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
				}
				v = []any{res, attr}
			}
		}
		return map[string]any{"Fn::" + name: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: key %q repeated", n.Content[i].Line, k)
			}
			v, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// Want is what Check expects of every function.
type Want struct {
	Runtime     string   // e.g. provided.al2023
	Handler     string   // e.g. bootstrap
	Arch        string   // an architecture every function must list, e.g. arm64
	BuildMethod []string // accepted Metadata.BuildMethod values, e.g. go1.x, makefile
	Env         []string // environment variables every function must set
}

// Check checks the template at path against want and returns every problem found.
func Check(path string, want Want) []error {
	src, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	return CheckSource(src, filepath.Dir(path), want)
}

// CheckSource checks the template src, whose CodeUri paths are relative to dir, against want.
func CheckSource(src []byte, dir string, want Want) []error {
	t, err := Parse(src)
	if err != nil {
		return []error{err}
	}
	c := &checker{t: t, dir: dir, want: want, names: map[string]bool{}}
	c.check()
	return c.errs
}

type checker struct {
	t     map[string]any
	dir   string
	want  Want
	names map[string]bool // what Ref and GetAtt may name
	errs  []error
}

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

var topLevel = []string{"AWSTemplateFormatVersion", "Transform", "Description", "Metadata", "Parameters", "Mappings", "Conditions", "Rules", "Globals", "Resources", "Outputs"}

// functionProperties are the properties of AWS::Serverless::Function.
var functionProperties = []string{
	"Architectures", "AssumeRolePolicyDocument", "AutoPublishAlias", "AutoPublishAliasAllProperties", "AutoPublishCodeSha256",
	"CodeSigningConfigArn", "CodeUri", "DeadLetterQueue", "DeploymentPreference", "Description", "Environment",
	"EphemeralStorage", "EventInvokeConfig", "Events", "FileSystemConfigs", "FunctionName", "FunctionUrlConfig", "Handler",
	"ImageConfig", "ImageUri", "InlineCode", "KmsKeyArn", "Layers", "LoggingConfig", "MemorySize", "PackageType",
	"PermissionsBoundary", "Policies", "PropagateTags", "ProvisionedConcurrencyConfig", "RecursiveLoop",
	"ReservedConcurrentExecutions", "Role", "RolePath", "Runtime", "RuntimeManagementConfig", "SnapStart",
	"SourceKMSKeyArn", "Tags", "Timeout", "Tracing", "VersionDescription", "VpcConfig",
}

var architectures = []string{"arm64", "x86_64"}

var httpMethods = []string{"ANY", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "any", "get", "head", "post", "put", "patch", "delete", "options"}

func (c *checker) check() {
	for k := range c.t {
		if !slices.Contains(topLevel, k) {
			c.errorf("unknown top-level key %q", k)
		}
	}
	if v := c.t["AWSTemplateFormatVersion"]; v != nil && v != "2010-09-09" {
		c.errorf("AWSTemplateFormatVersion %v, want 2010-09-09", v)
	}
	if !hasTransform(c.t["Transform"], "AWS::Serverless-2016-10-31") {
		c.errorf("Transform must include AWS::Serverless-2016-10-31")
	}
	params, _ := c.t["Parameters"].(map[string]any)
	resources, _ := c.t["Resources"].(map[string]any)
	if len(resources) == 0 {
		c.errorf("no Resources")
	}
	for name, p := range params {
		c.names[name] = true
		pm, _ := p.(map[string]any)
		if pm["Type"] == nil {
			c.errorf("parameter %s: no Type", name)
		}
		if strings.Contains(strings.ToLower(name), "token") || strings.Contains(strings.ToLower(name), "secret") {
			if pm["NoEcho"] != true {
				c.errorf("parameter %s holds a secret: set NoEcho: true", name)
			}
		}
	}
	for name, r := range resources {
		c.names[name] = true
		rm, _ := r.(map[string]any)
		props, _ := rm["Properties"].(map[string]any)
		if rm["Type"] == "AWS::Serverless::Function" {
			// Resources SAM generates for a function, which outputs may name.
			c.names[name+"Role"] = true
			if props["FunctionUrlConfig"] != nil {
				c.names[name+"Url"] = true
			}
		}
	}
	globals, _ := c.t["Globals"].(map[string]any)
	gfn, _ := globals["Function"].(map[string]any)
	for k := range gfn {
		if !slices.Contains(functionProperties, k) {
			c.errorf("Globals.Function: unknown property %q", k)
		}
	}
	functions := 0
	for name, r := range resources {
		rm, _ := r.(map[string]any)
		typ, _ := rm["Type"].(string)
		if typ == "" {
			c.errorf("resource %s: no Type", name)
			continue
		}
		if typ == "AWS::Serverless::Function" {
			functions++
			c.function(name, rm, gfn, resources)
		}
	}
	if functions == 0 {
		c.errorf("no AWS::Serverless::Function")
	}
	used := map[string]bool{}
	c.refs("", c.t, used)
	for name := range params {
		if !used[name] {
			c.errorf("parameter %s is never referenced", name)
		}
	}
}

// function checks one AWS::Serverless::Function, with the Globals it inherits.
func (c *checker) function(name string, r, globals, resources map[string]any) {
	props, _ := r["Properties"].(map[string]any)
	for k := range props {
		if !slices.Contains(functionProperties, k) {
			c.errorf("%s: unknown property %q", name, k)
		}
	}
	get := func(k string) any {
		if v, ok := props[k]; ok {
			return v
		}
		return globals[k]
	}
	if v := get("Runtime"); v != c.want.Runtime {
		c.errorf("%s: Runtime %v, want %s", name, v, c.want.Runtime)
	}
	if v := get("Handler"); v != c.want.Handler {
		c.errorf("%s: Handler %v, want %s", name, v, c.want.Handler)
	}
	archs, _ := get("Architectures").([]any)
	if !slices.Contains(archs, any(c.want.Arch)) {
		c.errorf("%s: Architectures %v, want %s", name, archs, c.want.Arch)
	}
	for _, a := range archs {
		if s, _ := a.(string); !slices.Contains(architectures, s) {
			c.errorf("%s: architecture %v is not one of %v", name, a, architectures)
		}
	}
	meta, _ := r["Metadata"].(map[string]any)
	if bm, _ := meta["BuildMethod"].(string); !slices.Contains(c.want.BuildMethod, bm) {
		c.errorf("%s: Metadata.BuildMethod %q, want one of %v", name, bm, c.want.BuildMethod)
	}
	code, _ := props["CodeUri"].(string)
	if code == "" {
		c.errorf("%s: CodeUri must be a local directory", name)
	} else if !mainPackage(filepath.Join(c.dir, code)) {
		c.errorf("%s: CodeUri %s is not a directory holding a Go main package", name, code)
	}
	env := map[string]bool{}
	for _, scope := range []map[string]any{globals, props} {
		e, _ := scope["Environment"].(map[string]any)
		vars, _ := e["Variables"].(map[string]any)
		for k := range vars {
			env[k] = true
		}
	}
	for _, k := range c.want.Env {
		if !env[k] {
			c.errorf("%s: environment variable %s is not set", name, k)
		}
	}
	events, _ := props["Events"].(map[string]any)
	for en, e := range events {
		em, _ := e.(map[string]any)
		ep, _ := em["Properties"].(map[string]any)
		switch em["Type"] {
		case "HttpApi":
			if ref, ok := ep["ApiId"].(map[string]any); ok {
				api, _ := resources[fmt.Sprint(ref["Ref"])].(map[string]any)
				if api["Type"] != "AWS::Serverless::HttpApi" {
					c.errorf("%s.Events.%s: ApiId %v is not an AWS::Serverless::HttpApi", name, en, ref["Ref"])
				}
			}
			if p, _ := ep["Path"].(string); !strings.HasPrefix(p, "/") {
				c.errorf("%s.Events.%s: Path %q must start with /", name, en, p)
			}
			if m, _ := ep["Method"].(string); !slices.Contains(httpMethods, m) {
				c.errorf("%s.Events.%s: Method %q is not an HTTP method", name, en, m)
			}
		case "Api", "Schedule", "SQS", "SNS", "S3", "EventBridgeRule", "CloudWatchEvent", "DynamoDB", "Kinesis":
		default:
			c.errorf("%s.Events.%s: unknown event Type %v", name, en, em["Type"])
		}
	}
	if u, ok := props["FunctionUrlConfig"].(map[string]any); ok {
		if a := u["AuthType"]; a != "NONE" && a != "AWS_IAM" {
			c.errorf("%s: FunctionUrlConfig.AuthType %v, want NONE or AWS_IAM", name, a)
		}
	}
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// refs checks every Ref, Fn::GetAtt and Fn::Sub variable under v, recording the names used.
func (c *checker) refs(at string, v any, used map[string]bool) {
	use := func(name string) {
		used[name] = true
		if !c.names[name] && !strings.HasPrefix(name, "AWS::") {
			c.errorf("%s: %q names no parameter or resource", at, name)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			x := v[k]
			switch k {
			case "Ref":
				use(fmt.Sprint(x))
			case "Fn::GetAtt":
				if s, ok := x.([]any); ok && len(s) == 2 {
					use(fmt.Sprint(s[0]))
				} else {
					c.errorf("%s: Fn::GetAtt %v: want [Resource, Attribute]", at, x)
				}
			case "Fn::Sub":
				s, _ := x.(string)
				if l, ok := x.([]any); ok && len(l) > 0 {
					s, _ = l[0].(string) // variables of the second element are local: not checked
				}
				for _, m := range subVar.FindAllStringSubmatch(s, -1) {
					res, _, _ := strings.Cut(m[1], ".")
					use(res)
				}
			default:
				c.refs(at+"."+k, x, used)
			}
		}
	case []any:
		for i, x := range v {
			c.refs(fmt.Sprintf("%s[%d]", at, i), x, used)
		}
	}
}

func hasTransform(v any, name string) bool {
	switch v := v.(type) {
	case string:
		return v == name
	case []any:
		return slices.Contains(v, any(name))
	}
	return false
}

// mainPackage reports whether dir holds a .go file of package main.
func mainPackage(dir string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return false
	}
	pkgLine := regexp.MustCompile(`(?m)^package main\s*$`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && pkgLine.Match(b) {
			return true
		}
	}
	return false
}
