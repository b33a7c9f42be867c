package portcullis_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/audit"
)

const (
	auditPath = module + "/idp/audit"
	storePath = module + "/idp/store"
)

// TestAuditEventsFromCatalogue type-checks every non-test Go file of the
// module and fails where an audit event is written with anything but a
// constant of the catalogue: the Event of a store.AuditEvent, in a
// composite literal or an assignment, must be an audit.X selector (not a
// string, a variable or an audit.Event("…") conversion), and every audit.X
// used anywhere must be in the catalogue. It also fails when an event of
// the catalogue is written nowhere outside the store's conformance suite.
func TestAuditEventsFromCatalogue(t *testing.T) {
	pkgs := listModule(t)
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		for _, p := range pkgs {
			if p.ImportPath == path && p.Export != "" {
				return os.Open(p.Export)
			}
		}
		return nil, fmt.Errorf("no export data for %s", path)
	})

	var literals int
	written := map[audit.Event]bool{}
	for _, p := range pkgs {
		if p.Module == nil || p.Module.Path != module {
			continue
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{
			Types:      map[ast.Expr]types.TypeAndValue{},
			Uses:       map[*ast.Ident]types.Object{},
			Selections: map[*ast.SelectorExpr]*types.Selection{},
		}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}

		// The event an expression sets, if it is an audit.X constant.
		eventOf := func(e ast.Expr) (audit.Event, bool) {
			sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
			if !ok {
				return "", false
			}
			pkgName, ok := info.Uses[identOf(sel.X)].(*types.PkgName)
			if !ok || pkgName.Imported().Path() != auditPath {
				return "", false
			}
			c, ok := info.Uses[sel.Sel].(*types.Const)
			if !ok || c.Val().Kind() != constant.String {
				return "", false
			}
			return audit.Event(constant.StringVal(c.Val())), true
		}
		check := func(at token.Pos, e ast.Expr) {
			ev, ok := eventOf(e)
			switch {
			case !ok:
				t.Errorf("%s: an audit event is set to %s, not to an audit.X constant", fset.Position(at), types.ExprString(e))
			case !audit.Known(ev):
				t.Errorf("%s: the audit event %q is not in the catalogue", fset.Position(at), ev)
			case !strings.HasSuffix(p.ImportPath, "/storetest"):
				written[ev] = true
			}
		}

		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					if !isAuditEvent(info.Types[n].Type) {
						return true
					}
					literals++
					var event ast.Expr
					for _, elt := range n.Elts {
						kv, ok := elt.(*ast.KeyValueExpr)
						if !ok {
							t.Errorf("%s: a store.AuditEvent literal without field names", fset.Position(n.Pos()))
							return true
						}
						if identOf(kv.Key).Name == "Event" {
							event = kv.Value
						}
					}
					if event == nil {
						t.Errorf("%s: a store.AuditEvent literal without an Event", fset.Position(n.Pos()))
						return true
					}
					check(event.Pos(), event)
				case *ast.AssignStmt:
					for i, lhs := range n.Lhs {
						sel, ok := lhs.(*ast.SelectorExpr)
						if !ok || !isAuditEventField(info.Selections[sel]) {
							continue
						}
						if len(n.Rhs) != len(n.Lhs) || n.Tok != token.ASSIGN {
							t.Errorf("%s: an audit event is set by %s", fset.Position(n.Pos()), n.Tok)
							continue
						}
						check(n.Rhs[i].Pos(), n.Rhs[i])
					}
				case *ast.Ident:
					// Any audit.X named anywhere is in the catalogue.
					if c, ok := info.Uses[n].(*types.Const); ok && c.Pkg() != nil && c.Pkg().Path() == auditPath &&
						isNamed(c.Type(), auditPath, "Event") && !audit.Known(audit.Event(constant.StringVal(c.Val()))) {
						t.Errorf("%s: audit.%s is not in the catalogue", fset.Position(n.Pos()), n.Name)
					}
				}
				return true
			})
		}
	}

	// Positive control: the emitters were seen (see idp/ and idp/store/).
	if literals < 20 {
		t.Fatalf("only %d store.AuditEvent literals found; is the module's code being read?", literals)
	}
	for _, ev := range audit.All() {
		if !written[ev] {
			t.Errorf("the catalogue's %s is written nowhere", ev)
		}
	}
}

// TestReadmeListsAuditEvents: the README's table of audit events is the
// catalogue, in its order, with the same labels and fields.
func TestReadmeListsAuditEvents(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### Audit events\n")
	if !ok {
		t.Fatal(`README.md has no "### Audit events" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	var got []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			got = append(got, line)
		}
	}
	none := func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	}
	var want []string
	for _, ev := range audit.All() {
		s, _ := audit.Lookup(ev)
		var detail []string
		for _, k := range s.Detail {
			detail = append(detail, "`"+k+"`")
		}
		want = append(want, fmt.Sprintf("| `%s` | %s | %s | %s | %s |",
			ev, s.Label, none(string(s.Actor)), none(string(s.Subject)), none(strings.Join(detail, ", "))))
	}
	if !slices.Equal(got, want) {
		t.Errorf("README.md's audit events differ from idp/audit; the table should read:\n%s", strings.Join(want, "\n"))
	}
}

// goPackage is what listModule reads of `go list -json`.
type goPackage struct {
	ImportPath string
	Dir        string
	Export     string
	GoFiles    []string
	Module     *struct{ Path string }
}

// listModule lists the module's packages and everything they import, with
// compiled export data for the type checker.
func listModule(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-export", "-json=ImportPath,Dir,Export,GoFiles,Module", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func identOf(e ast.Expr) *ast.Ident {
	if id, ok := e.(*ast.Ident); ok {
		return id
	}
	return &ast.Ident{}
}

func isNamed(t types.Type, path, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == path && n.Obj().Name() == name
}

func isAuditEvent(t types.Type) bool { return t != nil && isNamed(t, storePath, "AuditEvent") }

// isAuditEventField reports whether sel selects the Event field of a
// store.AuditEvent, directly, through a pointer or by embedding.
func isAuditEventField(sel *types.Selection) bool {
	if sel == nil || sel.Kind() != types.FieldVal || sel.Obj().Name() != "Event" {
		return false
	}
	t := sel.Recv()
	idx := sel.Index()
	for _, i := range idx[:len(idx)-1] {
		if p, ok := t.Underlying().(*types.Pointer); ok {
			t = p.Elem()
		}
		t = t.Underlying().(*types.Struct).Field(i).Type()
	}
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	return isAuditEvent(t)
}
