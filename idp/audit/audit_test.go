package audit

import (
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

// TestCatalogueComplete: every event has a well-formed name, a label of
// its own and a field list, and appears once.
func TestCatalogueComplete(t *testing.T) {
	all := All()
	if len(all) == 0 {
		t.Fatal("the catalogue is empty")
	}
	labels := map[string]Event{}
	for i, e := range all {
		if slices.Index(all, e) != i {
			t.Errorf("%s is in the catalogue twice", e)
		}
		if !namePattern.MatchString(string(e)) {
			t.Errorf("%q is not an event name", e)
		}
		s, ok := Lookup(e)
		if !ok || !Known(e) || s.Event != e {
			t.Errorf("Lookup(%s) = %+v, %v", e, s, ok)
		}
		if strings.TrimSpace(s.Label) == "" || Label(e) != s.Label {
			t.Errorf("%s has no label", e)
		}
		if other, dup := labels[s.Label]; dup {
			t.Errorf("%s and %s share the label %q", other, e, s.Label)
		}
		labels[s.Label] = e
		if s.Subject == PartyNone {
			t.Errorf("%s says about whom it is in no field", e)
		}
		fields := Fields(e)
		if len(fields) == 0 || !slices.Contains(fields, "subject") {
			t.Errorf("%s carries no fields: %v", e, fields)
		}
		for j, k := range s.Detail {
			if k == "" || k == "actor" || k == "subject" || slices.Index(s.Detail, k) != j {
				t.Errorf("%s: detail key %q is empty, repeated or a field's name", e, k)
			}
		}
	}
}

// TestEveryConstantCatalogued: each Event constant declared in this package
// is in the catalogue, so a new constant cannot be used without a label.
func TestEveryConstantCatalogued(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
	}
	conf := types.Config{Importer: importer.Default()}
	pkg, err := conf.Check("audit", fset, parsed, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range pkg.Scope().Names() {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || c.Type() != pkg.Scope().Lookup("Event").Type() {
			continue
		}
		n++
		if e := Event(constant.StringVal(c.Val())); !Known(e) {
			t.Errorf("the constant %s (%q) is not in the catalogue", name, e)
		}
	}
	if n != len(All()) {
		t.Errorf("%d Event constants, %d catalogue entries", n, len(All()))
	}
}

func TestUnknownEvent(t *testing.T) {
	const e = Event("no.such_event")
	if Known(e) || Label(e) != "no.such_event" || Fields(e) != nil {
		t.Errorf("unknown event: Known %v, Label %q, Fields %v", Known(e), Label(e), Fields(e))
	}
	if _, ok := Lookup(e); ok {
		t.Error("Lookup found an unknown event")
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	s, _ := Lookup(TenantRequireTFA)
	s.Detail[0] = "changed"
	All()[0] = "changed"
	if again, _ := Lookup(TenantRequireTFA); again.Detail[0] != "require_tfa" || All()[0] != LoginPassword {
		t.Error("the catalogue can be changed through what it returns")
	}
}

func TestFields(t *testing.T) {
	if got := Fields(MFACodeFailed); !slices.Equal(got, []string{"actor", "subject", "reason"}) {
		t.Errorf("Fields(mfa.code_failed) = %v", got)
	}
	if got := Fields(MFALockout); !slices.Equal(got, []string{"subject", "until"}) {
		t.Errorf("Fields(mfa.lockout) = %v", got)
	}
}
