package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// alertRules is the shape of deploy/prometheus/alerts.yml (Prometheus's
// rule file format), strict: an unknown field is an error.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ourMetric matches the names of our own metrics in a PromQL expression.
var ourMetric = regexp.MustCompile(`\btextkit_[a-z0-9_]+`)

// TestAlertRulesNameOnlyRegisteredMetrics: every textkit_ metric an alert
// uses is one our code registers (a renamed metric would otherwise turn
// its alert off without a sound), and every rule is complete.
func TestAlertRulesNameOnlyRegisteredMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	registered := registeredMetrics(t)
	if len(registered) == 0 {
		t.Fatal("found no registered metrics in the code")
	}
	seen := map[string]bool{}
	n := 0
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules are required", g.Name)
		}
		for _, r := range g.Rules {
			n++
			switch {
			case r.Alert == "":
				t.Errorf("group %s: a rule without an alert name", g.Name)
			case seen[r.Alert]:
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("alert %s: severity %q, want page or ticket", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["runbook"] == "" {
				t.Errorf("alert %s: annotations summary and runbook are required", r.Alert)
			}
			if r.For != "" && !regexp.MustCompile(`^[0-9]+[smhd]$`).MatchString(r.For) {
				t.Errorf("alert %s: for %q is not a duration", r.Alert, r.For)
			}
			names := ourMetric.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("alert %s: expr %q names none of our metrics", r.Alert, r.Expr)
			}
			for _, name := range names {
				if !registered[name] {
					t.Errorf("alert %s: metric %s is not registered by our code (registered: %s)", r.Alert, name, strings.Join(sortedKeys(registered), ", "))
				}
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("alert %s: unbalanced parentheses in %q", r.Alert, r.Expr)
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yml has no rules")
	}
}

// registeredMetrics returns the names of the series our code exposes: every
// metric registered with promauto (the repo's one way to register) in a
// non-test Go file under cmd/ and internal/, with the _bucket, _sum and
// _count series of histograms and summaries.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !isIdent(sel.X, "promauto") || !strings.HasPrefix(sel.Sel.Name, "New") {
					return true
				}
				lit, ok := call.Args[0].(*ast.CompositeLit)
				if !ok {
					return true
				}
				typ, ok := lit.Type.(*ast.SelectorExpr)
				if !ok || !isIdent(typ.X, "prometheus") {
					return true
				}
				name := optsName(lit)
				if name == "" {
					t.Errorf("%s: a %s whose name is not a literal; this test cannot see it", path, typ.Sel.Name)
					return true
				}
				out[name] = true
				switch typ.Sel.Name {
				case "HistogramOpts":
					out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
				case "SummaryOpts":
					out[name+"_sum"], out[name+"_count"] = true, true
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// optsName is the full metric name of a prometheus.*Opts literal, from
// its Namespace, Subsystem and Name string literals ("" when not literal).
func optsName(lit *ast.CompositeLit) string {
	parts := map[string]string{}
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, ok := kv.Key.(*ast.Ident)
		if !ok || (key.Name != "Namespace" && key.Name != "Subsystem" && key.Name != "Name") {
			continue
		}
		bl, ok := kv.Value.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return ""
		}
		v, err := strconv.Unquote(bl.Value)
		if err != nil {
			return ""
		}
		parts[key.Name] = v
	}
	if parts["Name"] == "" {
		return ""
	}
	var name []string
	for _, k := range []string{"Namespace", "Subsystem", "Name"} {
		if parts[k] != "" {
			name = append(name, parts[k])
		}
	}
	return strings.Join(name, "_")
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
