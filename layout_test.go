package portcullis_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/portcullis-idp/portcullis"

// mayImport is the layout of DESIGN.md written down: for each package of
// ours, the packages of ours it may import directly. Dependencies point one
// way: cmd -> idp (the composition root) -> the domains (oauth, signin,
// account, admin, logout) -> the sign-in machinery (flow, credentials,
// browser, signing, claims, web) -> store -> (audit, mfa, migrations), and
// everything may use the leaf secrets. Among the domains, only signin is
// imported by others (its Gate requires a session for /account, /admin and
// the logout page). A new package fails this test until it is added here.
var mayImport = map[string][]string{
	"cmd/portcullis": {"idp", "idp/audit", "idp/claims", "idp/config", "idp/demo", "idp/secrets",
		"idp/metrics", "idp/signing", "idp/store", "idp/throttle", "templates"},
	"cmd/portcullis-load": {},

	"idp": {"idp/account", "idp/admin", "idp/audit", "idp/browser", "idp/config", "idp/credentials", "idp/flow",
		"idp/logout", "idp/metrics", "idp/oauth", "idp/passwordlink", "idp/secrets", "idp/signin", "idp/signing", "idp/store", "idp/throttle",
		"idp/web", "mfa", "templates"},

	// The domains.
	"idp/oauth": {"idp/browser", "idp/claims", "idp/flow", "idp/secrets", "idp/signing", "idp/store",
		"idp/web", "templates"},
	"idp/signin": {"idp/audit", "idp/browser", "idp/claims", "idp/credentials", "idp/flow", "idp/secrets",
		"idp/store", "idp/web", "mfa", "templates"},
	"idp/account": {"idp/audit", "idp/browser", "idp/claims", "idp/credentials", "idp/flow", "idp/secrets",
		"idp/signin", "idp/store", "idp/web", "mfa", "templates"},
	"idp/admin": {"idp/audit", "idp/browser", "idp/claims", "idp/credentials", "idp/flow", "idp/signin", "idp/store",
		"idp/web", "templates"},
	"idp/passwordlink": {"idp/browser", "idp/secrets", "idp/store", "idp/web", "templates"},
	"idp/logout": {"idp/audit", "idp/browser", "idp/flow", "idp/secrets", "idp/signin", "idp/signing",
		"idp/store", "idp/web", "templates"},

	// What the domains share.
	"idp/flow":        {"idp/store"},
	"idp/credentials": {"idp/audit", "idp/browser", "idp/secrets", "idp/store", "idp/throttle", "idp/web", "mfa"},
	"idp/browser":     {"idp/audit", "idp/secrets", "idp/store", "idp/web"},
	"idp/signing":     {"idp/secrets", "idp/store"},
	"idp/claims":      {"idp/store"},
	"idp/web":         {"templates"},
	"idp/demo":        {"idp/web", "templates"},
	"idp/config":      {},

	// Storage and the leaves.
	"idp/store":                   {"idp/audit", "idp/secrets", "mfa", "migrations"},
	"idp/store/storetest":         {"idp/audit", "idp/secrets", "idp/store", "mfa"},
	"mfa":                         {"idp/secrets"},
	"mfa/mfatest":                 {"mfa"},
	"idp/credentials/passkeytest": {},
	"idp/secrets":                 {},
	"idp/throttle":                {},
	"idp/metrics":                 {},
	"idp/audit":                   {},
	"templates":                   {},
	"migrations":                  {},
	".":                           {}, // this file's package: tests only
}

// TestDependenciesPointOneWay checks every package's direct imports of
// ours against mayImport (go list, so test files are not counted).
func TestDependenciesPointOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		if pkg == "" {
			pkg = "."
		}
		allowed, known := mayImport[pkg]
		if !known {
			t.Errorf("package %s is not in mayImport: add it with the packages it may import", pkg)
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			ours := strings.TrimPrefix(imp, module+"/")
			if !slices.Contains(allowed, ours) {
				t.Errorf("%s imports %s, which the layout does not allow", pkg, ours)
			}
		}
	}
	// Positive control: the parser saw our packages.
	if seen < 20 {
		t.Fatalf("go list output not understood (%d packages):\n%s", seen, out)
	}
}

// TestLeavesStayFree keeps the leaves free of HTTP, gorm and fosite, even
// through other modules.
func TestLeavesStayFree(t *testing.T) {
	for pkg, libs := range map[string][]string{
		"mfa":          {"net/http", "gorm.io/", "github.com/ory/fosite"},
		"idp/secrets":  {"net/http", "gorm.io/", "github.com/ory/fosite"},
		"idp/audit":    {"net/http", "gorm.io/"},
		"idp/throttle": {"net/http", "gorm.io/", "github.com/ory/fosite"},
	} {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Split(string(out), "\n") {
			for _, lib := range libs {
				if dep == lib || strings.HasPrefix(dep, lib) && strings.HasSuffix(lib, "/") || strings.HasPrefix(dep, lib+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
