package engine

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoStepNameLiterals pins the step registry (steps.go) as the one
// place a step's name is written: no non-test Go file of the module
// compares a Step with a string literal, switches on a Step with string
// cases, sets a Step field from one, or declares or converts a StepName
// from a literal (the constants
// StepConfirm, StepHealth, … say it). Action names ("restart", "logs")
// are not steps and are not looked at.
func TestNoStepNameLiterals(t *testing.T) {
	registry, _ := filepath.Abs("steps.go")
	fset := token.NewFileSet()
	var found []string
	report := func(n ast.Node, what string) {
		found = append(found, fset.Position(n.Pos()).String()+": "+what)
	}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "third_party") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if abs, _ := filepath.Abs(path); abs == registry {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if n.Op != token.EQL && n.Op != token.NEQ {
					break
				}
				if (isStepField(n.X) && isNonEmptyString(n.Y)) || (isStepField(n.Y) && isNonEmptyString(n.X)) {
					report(n, "a step compared with a string literal")
				}
			case *ast.SwitchStmt:
				if n.Tag == nil || !isStepField(n.Tag) {
					break
				}
				for _, c := range n.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						if isNonEmptyString(e) {
							report(e, "a switch on a step with a string case")
						}
					}
				}
			case *ast.ValueSpec:
				if n.Type != nil && isStepNameType(n.Type) {
					for _, v := range n.Values {
						if isNonEmptyString(v) {
							report(v, "a StepName declared from a string literal")
						}
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Step" && isNonEmptyString(n.Value) {
					report(n, "a Step field set from a string literal")
				}
			case *ast.CallExpr:
				if len(n.Args) == 1 && isStepNameType(n.Fun) && isNonEmptyString(n.Args[0]) {
					report(n, "a StepName converted from a string literal")
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s: use the registry's constant (engine/steps.go)", f)
	}
}

// isStepField reports whether e is x.Step or string(x.Step).
func isStepField(e ast.Expr) bool {
	if c, ok := e.(*ast.CallExpr); ok && len(c.Args) == 1 {
		if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "string" {
			e = c.Args[0]
		}
	}
	sel, ok := e.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Step"
}

// isStepNameType reports whether e names the type StepName (or engine.StepName).
func isStepNameType(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "StepName"
	case *ast.SelectorExpr:
		return e.Sel.Name == "StepName"
	}
	return false
}

func isNonEmptyString(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return false
	}
	s, err := strconv.Unquote(lit.Value)
	return err == nil && s != ""
}
