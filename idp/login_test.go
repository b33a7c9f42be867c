package idp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
	gormlogger "gorm.io/gorm/logger"
)

// TestPasswordLockIsPerAddress: five wrong passwords from address A lock
// the account for A only: the right password from A is refused with 429,
// Retry-After and a message saying so, while the owner at address B signs
// in. An unknown email locks after the same five failures with the same
// answer, so the lock does not tell which emails exist. Lock and refusal
// are audited with their scope and address.
func TestPasswordLockIsPerAddress(t *testing.T) {
	forEachBackendWith(t, withProxy, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		try := func(from, email, password string) (*http.Response, string) {
			b := newBrowser(t)
			b.from = from
			_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
			return b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {email}, "password": {password}})
		}
		const attacker, owner = "203.0.113.5", "198.51.100.9"
		for _, email := range []string{"ada@example.com", "nobody@example.com"} {
			for i := range 5 {
				if resp, _ := try(attacker, email, fmt.Sprint("wrong password ", i)); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s: wrong password %d: %d", email, i+1, resp.StatusCode)
				}
			}
			resp, body := try(attacker, email, testPassword)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
				!strings.Contains(body, "Too many failed sign-ins to this account from your network. Try again in 1 minute.") {
				t.Fatalf("%s: right password from the locked address: %d, Retry-After %q", email, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}

		b := newBrowser(t)
		b.from = owner
		if landed := e.authorize(b, authURLFor(relying, oauth2.GenerateVerifier()), "ada@example.com", testPassword); landed.Query().Get("code") == "" {
			t.Fatalf("the owner at another address was refused: %s", landed)
		}

		events := e.auditEvents("ada@example.com")
		if !slices.Contains(events, "login.lockout") || !slices.Contains(events, "login.locked") {
			t.Fatalf("audit: %v", events)
		}
		var details []string
		must(t, e.store.DB().Table("audit_events").Where("event = ? AND subject_id = ?", "login.lockout", e.user.ID).Pluck("detail", &details).Error)
		if len(details) != 1 || !strings.Contains(details[0], `"scope":"account_address"`) || !strings.Contains(details[0], attacker) {
			t.Fatalf("lockout audit detail %q", details)
		}
	})
}

// TestUserAgentStoredAsText: a User-Agent that is not UTF-8, or whose
// multi-byte character straddles the 300-byte cut, is stored as valid text:
// the sign-in works and its events are audited, on PostgreSQL too (which
// refuses invalid UTF-8).
func TestUserAgentStoredAsText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, ua := range []string{"Agent/\xff\xfe (bytes)", strings.Repeat("a", 299) + "é tail"} {
			relying := e.rp(e.client, e.secret)
			b := newBrowser(t)
			b.userAgent = ua
			_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
			resp, _ := b.post(e.issuer+"/login", url.Values{"auth_request": {hiddenAuthRequest(t, body)}, "email": {"ada@example.com"}, "password": {"wrong password"}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password with UA %q: status %d", ua, resp.StatusCode)
			}
			if landed := e.authorize(b, authURLFor(relying, oauth2.GenerateVerifier()), "ada@example.com", testPassword); landed.Query().Get("code") == "" {
				t.Fatalf("no code with UA %q: %s", ua, landed)
			}
			var stored []string
			must(t, e.store.DB().Table("audit_events").Where("event = ? AND subject_id = ?", "login.failed", e.user.ID).
				Order("id DESC").Limit(1).Pluck("user_agent", &stored).Error)
			if len(stored) != 1 || !utf8.ValidString(stored[0]) || len(stored[0]) > 300 || !strings.HasPrefix(stored[0], ua[:5]) {
				t.Errorf("audited user agent %q for %q", stored, ua)
			}
		}
	})
}

// statementLog is a gorm logger that records, per SQL statement, its verb
// and first table.
type statementLog struct {
	gormlogger.Interface
	mu    sync.Mutex
	stmts []string
}

var firstTable = regexp.MustCompile("(?is)^\\s*(?:UPDATE|(?:SELECT|INSERT|DELETE)\\b.*?\\b(?:FROM|INTO))\\s+[\"`]?([a-z_]+)")

func (l *statementLog) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	m := firstTable.FindStringSubmatch(sql)
	if m == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts = append(l.stmts, m[1])
}

func (l *statementLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stmts
	l.stmts = nil
	return s
}

// TestWrongEmailCostsWhatAWrongPasswordCosts: a sign-in with an unknown
// email runs the same database statements, table by table and in the same
// order, as one with a known email and a wrong password (the counter read
// and write, then the audit event, in one transaction), besides the same
// argon2id hash. Timing cannot be asserted on a shared machine; the work
// that makes it can.
func TestWrongEmailCostsWhatAWrongPasswordCosts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		log := &statementLog{Interface: e.store.DB().Logger}
		e.store.DB().Logger = log
		t.Cleanup(func() { e.store.DB().Logger = log.Interface })
		try := func(email string) []string {
			b := newBrowser(t)
			_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
			ar := hiddenAuthRequest(t, body)
			log.take()
			resp, _ := b.post(e.issuer+"/login", url.Values{"auth_request": {ar}, "email": {email}, "password": {"not the password"}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s: status %d", email, resp.StatusCode)
			}
			return log.take()
		}
		for round := 1; round <= 2; round++ { // the first failure inserts the counter, the second updates it
			known, unknown := try("ada@example.com"), try("nobody@example.com")
			if !slices.Equal(known, unknown) {
				t.Errorf("round %d: statements differ:\n known email  %q\n unknown email %q", round, known, unknown)
			}
			if !slices.Contains(known, "sign_in_failures") || !slices.Contains(known, "audit_events") {
				t.Errorf("round %d: no counter or audit statement in %q", round, known)
			}
		}
	})
}
