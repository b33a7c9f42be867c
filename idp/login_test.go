package idp_test

import (
	"context"
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

// TestPasswordAttemptLimit: five wrong passwords lock the password step;
// the right one is then refused with the same message as a wrong one (the
// lock does not reveal the account), and the lockout is audited.
func TestPasswordAttemptLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		relying := e.rp(e.client, e.secret)
		b := newBrowser(t)
		_, body := b.get(authURLFor(relying, oauth2.GenerateVerifier()))
		ar := hiddenAuthRequest(t, body)
		try := func(password string) (int, string) {
			resp, body := b.post(e.issuer+"/login", url.Values{"auth_request": {ar}, "email": {"ada@example.com"}, "password": {password}})
			return resp.StatusCode, body
		}
		for i := 0; i < 5; i++ {
			if status, _ := try("wrong password " + string(rune('a'+i))); status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d", i+1, status)
			}
		}
		status, body := try(testPassword)
		if status != http.StatusUnauthorized || !strings.Contains(body, "The email or password is not correct.") {
			t.Fatalf("right password while locked: %d", status)
		}
		events := e.auditEvents("ada@example.com")
		if !slices.Contains(events, "login.lockout") || !slices.Contains(events, "login.locked") {
			t.Fatalf("audit: %v", events)
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
			if !slices.Contains(known, "password_attempts") || !slices.Contains(known, "audit_events") {
				t.Errorf("round %d: no counter or audit statement in %q", round, known)
			}
		}
	})
}
