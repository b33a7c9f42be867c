package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// importLimit bounds one import file: lines, and bytes of one line.
const (
	importMaxUsers   = 100_000
	importMaxLineLen = 64 << 10
)

// errTooManyUsers stops reading a file past importMaxUsers records.
var errTooManyUsers = fmt.Sprintf("more than %d users in one file; split it", importMaxUsers)

// importRecord is one user of an import file.
type importRecord struct {
	line         int
	Email        string `json:"email"`
	Name         string `json:"name"`
	Admin        bool   `json:"admin"`
	PasswordHash string `json:"password_hash"`
}

func newUserImportCmd(c *cli) *cobra.Command {
	var tenant, file, format string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import --tenant SLUG --file FILE",
		Short: "Import users from a JSON-lines or CSV file",
		Long: `Import users into a tenant from a JSON-lines file (one object a line:
"email", and optionally "name", "admin" and "password_hash") or a CSV file
with a header row naming the same columns.

A password hash from another system is kept and checked at the user's next
sign-in, then replaced by Portcullis' argon2id: argon2id ($argon2id$…),
bcrypt ($2a$, $2b$, $2y$; cost at most 14), or PBKDF2-SHA256 as
$pbkdf2-sha256$i=ITERATIONS$SALT$HASH, which is how Keycloak's export
reads (credentialData.hashIterations, secretData.salt, secretData.value).
A user without a hash cannot sign in until a password is set.

Every line is checked before anything is written, and every bad line is
reported at once; one bad line imports nothing. Users whose email already
exists are left as they are, so running the same import again changes
nothing. --dry-run checks and reports without writing.`,
		Example: `  portcullis user import --tenant acme --file users.jsonl --dry-run
  portcullis user import --tenant acme --file keycloak-users.csv`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []string
			if tenant == "" {
				problems = append(problems, "--tenant is required")
			}
			if file == "" {
				problems = append(problems, "--file is required (- for standard input)")
			}
			if format == "" {
				format = "jsonl"
				if strings.HasSuffix(strings.ToLower(file), ".csv") {
					format = "csv"
				}
			}
			if format != "jsonl" && format != "csv" {
				problems = append(problems, fmt.Sprintf("--format %q: want jsonl or csv", format))
			}
			if err := problemsError(problems); err != nil {
				return err
			}
			in := c.stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usageError{fmt.Errorf("--file: %w", err)}
				}
				defer f.Close()
				in = f
			}
			records, bad := readImport(in, format)
			bad = append(bad, checkImport(records)...)
			if len(bad) > 0 {
				return fmt.Errorf("%d bad line(s), nothing imported:\n  %s", len(bad), strings.Join(bad, "\n  "))
			}
			st, t, _, err := c.openTenantStore(cmd, tenant)
			if err != nil {
				return err
			}
			defer st.Close()
			created, skipped, err := importUsers(cmd.Context(), st, t, records, dryRun)
			if err != nil {
				return err
			}
			verb := "imported"
			if dryRun {
				verb = "would import"
			}
			fmt.Fprintf(c.stdout, "%s %d user(s) into tenant %s; %d already existed and were left as they are\n", verb, created, t.Slug, skipped)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "slug of the tenant the users join (required)")
	f.StringVar(&file, "file", "", "JSON-lines or CSV file, - for standard input (required)")
	f.StringVar(&format, "format", "", "jsonl or csv (default: csv for a .csv file, jsonl otherwise)")
	f.BoolVar(&dryRun, "dry-run", false, "check and report without writing")
	return cmd
}

// readImport parses the file; it returns the records and one problem per
// line that cannot be read.
func readImport(in io.Reader, format string) ([]importRecord, []string) {
	var records []importRecord
	var bad []string
	if format == "csv" {
		r := csv.NewReader(io.LimitReader(in, importMaxUsers*importMaxLineLen))
		r.FieldsPerRecord = -1
		header, err := r.Read()
		if err != nil {
			return nil, []string{"line 1: no header row (email,name,admin,password_hash)"}
		}
		col := map[string]int{}
		for i, h := range header {
			col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
		}
		if _, ok := col["email"]; !ok {
			return nil, []string{"line 1: the header has no email column"}
		}
		for n := 2; ; n++ {
			row, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				bad = append(bad, fmt.Sprintf("line %d: %v", n, err))
				continue
			}
			get := func(name string) string {
				if i, ok := col[name]; ok && i < len(row) {
					return strings.TrimSpace(row[i])
				}
				return ""
			}
			rec := importRecord{line: n, Email: get("email"), Name: get("name"), PasswordHash: get("password_hash")}
			if a := get("admin"); a != "" {
				admin, err := parseYesNo(a)
				if err != nil {
					bad = append(bad, fmt.Sprintf("line %d: admin %q: want true or false", n, a))
					continue
				}
				rec.Admin = admin
			}
			if records = append(records, rec); len(records) > importMaxUsers {
				return nil, []string{errTooManyUsers}
			}
		}
		return records, bad
	}
	dec := newLineReader(in)
	for n := 1; ; n++ {
		line, err := dec.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // a line over the limit: the rest cannot be read
			bad = append(bad, fmt.Sprintf("line %d: %v", n, err))
			break
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec importRecord
		d := json.NewDecoder(strings.NewReader(line))
		d.DisallowUnknownFields()
		if err := d.Decode(&rec); err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		rec.line = n
		if records = append(records, rec); len(records) > importMaxUsers {
			return nil, []string{errTooManyUsers}
		}
	}
	return records, bad
}

func parseYesNo(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "y":
		return true, nil
	case "no", "n":
		return false, nil
	}
	return strconv.ParseBool(s)
}

// checkImport reports every problem with the records: email, name, hash,
// and an email given twice.
func checkImport(records []importRecord) []string {
	var bad []string
	seen := map[string]int{}
	for i := range records {
		rec := &records[i]
		var problems []string
		addr, err := mail.ParseAddress(strings.TrimSpace(rec.Email))
		if rec.Email == "" {
			problems = append(problems, "no email")
		} else if err != nil || addr.Name != "" || addr.Address != strings.TrimSpace(rec.Email) {
			problems = append(problems, fmt.Sprintf("email %q is not an email address", rec.Email))
		} else {
			rec.Email = store.NormalizeEmail(addr.Address)
			if first, ok := seen[rec.Email]; ok {
				problems = append(problems, fmt.Sprintf("email %s is also on line %d", rec.Email, first))
			}
			seen[rec.Email] = rec.line
		}
		if len(rec.Name) > 200 {
			problems = append(problems, "name is longer than 200 bytes")
		}
		if rec.PasswordHash != "" {
			if err := secrets.CheckImportedHash(rec.PasswordHash); err != nil {
				problems = append(problems, "password_hash: "+err.Error()) // the hash itself is never printed
			}
		}
		if len(problems) > 0 {
			bad = append(bad, fmt.Sprintf("line %d: %s", rec.line, strings.Join(problems, "; ")))
		}
	}
	return bad
}

// importUsers creates the records' users in one transaction, leaving
// the tenant's existing emails alone (an email of another organisation
// fails the import: emails are unique across all); with dryRun it only
// counts. A user without a hash gets none: no password signs in until one
// is set through a link (portcullis user reset-password).
func importUsers(ctx context.Context, st *store.Store, t *store.Tenant, records []importRecord, dryRun bool) (created, skipped int, err error) {
	err = st.InTx(ctx, func(ctx context.Context) error {
		for _, rec := range records {
			if existing, err := st.UserByEmail(ctx, rec.Email); err == nil {
				if existing.TenantID != t.ID {
					return fmt.Errorf("line %d: %s belongs to another organisation (emails are unique across all of them)", rec.line, rec.Email)
				}
				skipped++
				continue
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			created++
			if dryRun {
				continue
			}
			u := &store.User{TenantID: t.ID, Email: rec.Email, Name: strings.TrimSpace(rec.Name), PasswordHash: rec.PasswordHash, Role: store.RoleMember}
			if rec.Admin {
				u.Role = store.RoleAdmin
			}
			if err := st.ImportUser(ctx, u, cliActor); err != nil {
				return fmt.Errorf("line %d: %w", rec.line, err)
			}
		}
		return nil
	})
	return created, skipped, err
}

// lineReader reads lines of at most importMaxLineLen bytes.
type lineReader struct{ sc *bufio.Scanner }

func newLineReader(r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), importMaxLineLen)
	return &lineReader{sc}
}

func (l *lineReader) next() (string, error) {
	if l.sc.Scan() {
		return l.sc.Text(), nil
	}
	if err := l.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}
