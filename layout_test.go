package portcullis_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/portcullis-idp/portcullis"

// TestDependenciesPointOneWay keeps the layout of DESIGN.md honest:
// cmd -> idp -> (idp/store, mfa, templates, migrations), and the leaves
// import nothing of ours above them; idp/audit imports nothing of ours.
func TestDependenciesPointOneWay(t *testing.T) {
	forbidden := map[string][]string{
		"mfa":        {"/idp", "/templates", "/migrations", "/cmd"},
		"templates":  {"/idp", "/mfa", "/migrations", "/cmd"},
		"migrations": {"/idp", "/mfa", "/templates", "/cmd"},
		"idp/audit":  {"/"}, // a leaf: nothing of ours
		"idp/store":  {"/idp/config", "/idp/demo", "/templates", "/cmd", module + "/idp\n"},
		"idp":        {"/cmd"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		deps := string(out)
		for _, b := range bad {
			needle := b
			if strings.HasPrefix(b, "/") {
				needle = module + b
			}
			for _, line := range strings.Split(deps, "\n") {
				if strings.HasPrefix(line+"\n", needle) && line != module+"/"+pkg {
					t.Errorf("%s imports %s", pkg, line)
				}
			}
		}
		// Positive control: the parser does see our own imports.
		if pkg == "idp" && !strings.Contains(deps, module+"/idp/store\n") {
			t.Fatalf("go list output not understood:\n%s", deps)
		}
		// The mfa package stays free of HTTP, gorm and fosite.
		if pkg == "mfa" {
			for _, lib := range []string{"net/http\n", "gorm.io/", "github.com/ory/fosite"} {
				if strings.Contains(deps+"\n", lib) {
					t.Errorf("mfa depends on %s", strings.TrimSpace(lib))
				}
			}
		}
	}
}
