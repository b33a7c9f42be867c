package idp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// The database work of a sign-in, counted as the database receives it:
// every statement the driver sends, BEGIN, COMMIT and ROLLBACK included
// (store.Config.StatementObserver). The budgets hold on PostgreSQL.
const (
	// signInBudget: a complete sign-in with a TOTP code, from the
	// authorization request to the code exchange.
	signInBudget = 40
	// ssoBudget: an authorization with a live MFA-level session (no page)
	// and its code exchange.
	ssoBudget = 14
)

// TestStatementsPerSignIn counts the statements of a complete sign-in with
// a code and of a single-sign-on authorization, each with its code
// exchange, and logs them per HTTP request (run with -v). The server's Run
// loop (key polling, back-channel logout, cleanup) is not started, so only
// the requests' own work is counted. The client is a confidential web app
// that skips consent, in a tenant that requires TFA, as in
// BenchmarkFullSignInWithCode.
func TestStatementsPerSignIn(t *testing.T) {
	for name, config := range storetest.Configs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			stmts := &driverStatements{}
			cfg := config(t)
			cfg.StatementObserver = stmts.observe
			e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.Open(tb, cfg) })
			// No request has been served yet: the server reads its
			// handler only when one arrives.
			e.ts.Config.Handler = stmts.handler(e.ts.Config.Handler)

			e.requireTFA(true)
			secret, hash, err := e.srv.ClientSecret()
			must(t, err)
			web := &store.Client{
				Name: "Acme App", SecretHash: hash, RedirectURIs: []string{rpRedirect}, RequirePKCE: true,
				Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code", "refresh_token"}, SkipConsent: true,
			}
			must(t, e.store.CreateClient(ctx, web))
			relying := e.rp(web, secret, oidc.ScopeOpenID, "profile", "email")
			user := func(email string) *mfaUser {
				_, s := enrollTOTP(t, e.store, e.tenant.ID, email, e.user.PasswordHash)
				return &mfaUser{email: email, password: testPassword, app: e.app(s)}
			}

			// A sign-in and an SSO authorization of another user first,
			// so the counted ones show the steady state: whatever is
			// filled on first use is filled (pgx's per-connection
			// statement cache, whose prepares are not statements and are
			// not counted; any cache of the server's).
			warmUser, u := user("warm-up@example.com"), user("grace@example.com")
			stmts.start()
			warm := newBrowser(t)
			signInAndExchange(e, relying, warm, warmUser)
			authorizeAndExchange(e, relying, warm)
			t.Logf("%s: warm-up sign-in and SSO (not budgeted): %d statements", name, stmts.stop().total())

			b := newBrowser(t)
			stmts.start()
			tok := signInAndExchange(e, relying, b, u)
			signIn := stmts.stop()
			wantMFAClaims(t, verifiedClaims(e, relying, tok))

			stmts.start()
			tok = authorizeAndExchange(e, relying, b)
			sso := stmts.stop()
			wantMFAClaims(t, verifiedClaims(e, relying, tok))

			for _, s := range []struct {
				what   string
				counts *statementCounts
				budget int
			}{
				{"sign-in with a code", signIn, signInBudget},
				{"SSO authorization", sso, ssoBudget},
			} {
				s.counts.log(t)
				t.Logf("%s: %s: %d statements (PostgreSQL budget %d)", name, s.what, s.counts.total(), s.budget)
				if s.counts.total() == 0 {
					t.Fatalf("%s: no statement observed: the observer is not wired", s.what)
				}
				s.counts.checkTransactions(t)
				if name == "postgres" && s.counts.total() > s.budget {
					t.Errorf("%s: %d statements on PostgreSQL, budget %d", s.what, s.counts.total(), s.budget)
				}
			}
		})
	}
}

// signInAndExchange signs u in with b from the authorization request to the
// code exchange (password page, code page, back to the client).
func signInAndExchange(e *env, relying *rp, b *browser, u *mfaUser) *oauth2.Token {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	landed := e.signIn(b, authURLFor(relying, verifier), u)
	tok, err := relying.cfg.Exchange(context.Background(), landed.Query().Get("code"), oauth2.VerifierOption(verifier))
	must(e.t, err)
	return tok
}

// authorizeAndExchange is an authorization that b's session answers
// without a page, and its code exchange.
func authorizeAndExchange(e *env, relying *rp, b *browser) *oauth2.Token {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	resp, _ := b.get(authURLFor(relying, verifier))
	if b.landed == nil || b.landed.Query().Get("code") == "" {
		e.t.Fatalf("SSO authorization ended at %s (%d), not at the client with a code", resp.Request.URL, resp.StatusCode)
	}
	tok, err := relying.cfg.Exchange(context.Background(), b.landed.Query().Get("code"), oauth2.VerifierOption(verifier))
	must(e.t, err)
	return tok
}

func verifiedClaims(e *env, relying *rp, tok *oauth2.Token) idClaims {
	e.t.Helper()
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := relying.verifier.Verify(context.Background(), rawID)
	must(e.t, err)
	var c idClaims
	must(e.t, idt.Claims(&c))
	return c
}

// driverStatements attributes the statements the store observes to the HTTP
// request whose context they carry, while counting is on.
type driverStatements struct {
	mu     sync.Mutex
	counts *statementCounts // nil while counting is off
}

// statementCounts are the statements of one scenario, per request in the
// order the requests arrived.
type statementCounts struct {
	requests []*requestStatements
	detached *requestStatements // statements whose context carries no request
}

type requestStatements struct {
	label string
	sql   []string
}

type requestKey struct{}

func (l *driverStatements) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts = &statementCounts{detached: &requestStatements{label: "(no HTTP request in the context)"}}
}

func (l *driverStatements) stop() *statementCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts
	l.counts = nil
	return c
}

// handler tags each request's context so that observe can attribute its
// statements.
func (l *driverStatements) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &requestStatements{label: r.Method + " " + r.URL.Path}
		l.mu.Lock()
		if l.counts != nil {
			l.counts.requests = append(l.counts.requests, rs)
		}
		l.mu.Unlock()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, rs)))
	})
}

// observe is the store's StatementObserver.
func (l *driverStatements) observe(ctx context.Context, sql string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		return
	}
	rs, _ := ctx.Value(requestKey{}).(*requestStatements)
	if rs == nil {
		rs = l.counts.detached
	}
	rs.sql = append(rs.sql, sql)
}

func (c *statementCounts) all() []*requestStatements {
	return append(c.requests[:len(c.requests):len(c.requests)], c.detached)
}

func (c *statementCounts) total() int {
	n := 0
	for _, rs := range c.all() {
		n += len(rs.sql)
	}
	return n
}

// log writes the count of each request and the start of each statement.
func (c *statementCounts) log(t *testing.T) {
	t.Helper()
	var sb strings.Builder
	for _, rs := range c.all() {
		if rs == c.detached && len(rs.sql) == 0 {
			continue
		}
		fmt.Fprintf(&sb, "\n  %s: %d", rs.label, len(rs.sql))
		for i, s := range rs.sql {
			s = strings.Join(strings.Fields(s), " ")
			if len(s) > 100 {
				s = s[:100] + "…"
			}
			fmt.Fprintf(&sb, "\n    %2d. %s", i+1, s)
		}
	}
	t.Logf("statements per request:%s", sb.String())
}

// checkTransactions: each request ends every transaction it begins.
func (c *statementCounts) checkTransactions(t *testing.T) {
	t.Helper()
	for _, rs := range c.all() {
		open := 0
		for _, s := range rs.sql {
			switch w := strings.ToLower(strings.Fields(s + " x")[0]); w {
			case "begin":
				open++
			case "commit", "rollback":
				open--
			}
		}
		if open != 0 {
			t.Errorf("%s: %d BEGIN more than COMMIT/ROLLBACK", rs.label, open)
		}
	}
}
