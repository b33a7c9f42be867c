package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// keycloakHash is PBKDF2-SHA256 as Keycloak exports it (the published
// test vector: password "passwordPASSWORDpassword", 4096 iterations).
const keycloakHash = "$pbkdf2-sha256$i=4096$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q=="

func TestUserImport(t *testing.T) {
	env, db := migratedEnv(t)
	mustRun(t, env, "", "tenant", "create", "--slug", "acme", "--name", "Acme")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse battery"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	good := write("users.jsonl", strings.Join([]string{
		`{"email":"ada@acme.test","name":"Ada Lovelace","admin":true,"password_hash":"` + string(bc) + `"}`,
		`{"email":"Kc@Acme.test","password_hash":"` + keycloakHash + `"}`,
		``,
		`{"email":"nopass@acme.test","name":"No Password"}`,
	}, "\n"))

	// A bad file: every bad line reported, nothing written, no hash shown.
	bad := write("bad.jsonl", strings.Join([]string{
		`{"email":"ok@acme.test"}`,
		`{"email":"not an email"}`,
		`{"email":"ok@acme.test","password_hash":"$1$md5$secretvalue"}`,
		`{"email":"x@acme.test","role":"admin"}`,
	}, "\n"))
	r := runCLI(t, env, "", "user", "import", "--tenant", "acme", "--file", bad)
	for _, want := range []string{"3 bad line(s), nothing imported", "line 2: email", "line 3: email ok@acme.test is also on line 1; password_hash:", `line 4: json: unknown field "role"`} {
		if r.code == exitOK || !strings.Contains(r.stderr, want) {
			t.Errorf("bad file: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "secretvalue") {
		t.Error("a bad hash was printed")
	}

	r = mustRun(t, env, "", "user", "import", "--tenant", "acme", "--file", good, "--dry-run")
	if strings.TrimSpace(r.stdout) != "would import 3 user(s) into tenant acme; 0 already existed and were left as they are" {
		t.Errorf("dry run printed %q", r.stdout)
	}
	st := openTestStore(t, db)
	if _, err := st.UserByEmail(context.Background(), "ada@acme.test"); err == nil {
		t.Fatal("the dry run wrote a user")
	}

	r = mustRun(t, env, "", "user", "import", "--tenant", "acme", "--file", good)
	if strings.TrimSpace(r.stdout) != "imported 3 user(s) into tenant acme; 0 already existed and were left as they are" {
		t.Errorf("import printed %q", r.stdout)
	}
	ada, err := st.UserByEmail(context.Background(), "ada@acme.test")
	if err != nil || ada.PasswordHash != string(bc) || ada.Role != store.RoleAdmin || ada.Name != "Ada Lovelace" {
		t.Fatalf("Ada imported as %+v, %v", ada, err)
	}
	if kc, err := st.UserByEmail(context.Background(), "kc@acme.test"); err != nil || kc.PasswordHash != keycloakHash {
		t.Fatalf("the Keycloak user: %+v, %v", kc, err)
	}
	// Without a hash: none (no password signs in, as for a user created
	// with a link), not an argon2id hash of a throwaway password.
	np, err := st.UserByEmail(context.Background(), "nopass@acme.test")
	if err != nil || np.PasswordHash != "" {
		t.Fatalf("the user without a hash: %+v, %v", np, err)
	}
	if e := lastAudit(t, st, np.TenantID, "user.created"); e.SubjectID == "" || !strings.Contains(e.Detail, `"via":"cli"`) {
		t.Errorf("the import is not audited: %+v", e)
	}

	// Again: nothing changes.
	r = mustRun(t, env, "", "user", "import", "--tenant", "acme", "--file", good)
	if strings.TrimSpace(r.stdout) != "imported 0 user(s) into tenant acme; 3 already existed and were left as they are" {
		t.Errorf("second run printed %q", r.stdout)
	}

	// CSV with a header, as a spreadsheet exports it.
	csvFile := write("more.csv", "\ufeffEmail,Name,Admin,Password_Hash\nbob@acme.test,Bob,no,"+string(bc)+"\n\"carol@acme.test\",\"Carol, Jr.\",yes,\n")
	r = mustRun(t, env, "", "user", "import", "--tenant", "acme", "--file", csvFile)
	if !strings.Contains(r.stdout, "imported 2 user(s)") {
		t.Errorf("CSV import printed %q", r.stdout)
	}
	if carol, err := st.UserByEmail(context.Background(), "carol@acme.test"); err != nil || carol.Name != "Carol, Jr." || carol.Role != store.RoleAdmin {
		t.Fatalf("Carol: %+v, %v", carol, err)
	}
}
