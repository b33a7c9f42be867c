package idp_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
)

// Benchmarks of the two-factor sign-in over real HTTP (loopback). Run with
// eight concurrent clients, on PostgreSQL and SQLite:
//
//	PORTCULLIS_TEST_POSTGRES_DSN=postgres://… \
//	go test ./idp -run '^$' -bench 'FullSignInWithCode|SSOAuthorize|PasswordCheck'
//
// Each runs benchClients clients at once (see parallelClients). They report operations per second; compare medians of several runs and
// ratios, never absolute times on a shared machine.

// BenchmarkFullSignInWithCode: a complete sign-in of a user with an active
// authenticator, as a relying party and a browser see it: authorize (→ the
// password page), password (→ the code page), code (→ the client's redirect
// URI with a code), code exchange at the token endpoint (confidential
// client, PKCE) and the ID token verified with go-oidc (signature, nonce,
// acr). Every sign-in has a fresh browser, so none rides on a session.
//
// Passwords are hashed at the production cost (secrets.DefaultArgon2) and, for
// comparison, at the cheap cost the other tests use.
func BenchmarkFullSignInWithCode(b *testing.B) {
	if p := secrets.DefaultArgon2; p.MemoryKiB < 19*1024 || p.Passes < 2 {
		b.Fatalf("secrets.DefaultArgon2 = %+v, below OWASP's minimum (19 MiB, 2 passes)", p)
	}
	costs := []struct {
		name   string
		params secrets.Argon2Params
	}{
		{"argon2-default", secrets.DefaultArgon2},
		{"argon2-test", testArgon2},
	}
	benchStores(b, func(b *testing.B, open func(testing.TB) *store.Store) {
		for _, cost := range costs {
			b.Run(cost.name, func(b *testing.B) {
				be := newMFABench(b, open, cost.params)
				// Each worker takes a user and signs it in three times, at
				// the steps before, of and after the frozen code clock, in
				// that order: so every code is a fresh step of its user.
				be.enroll(b.N/3 + parallelClients(b) + 1)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					var u *mfaBenchUser
					for pb.Next() {
						if u == nil || u.next > be.step+mfa.Skew {
							if u = be.takeUser(); u == nil {
								b.Error("the pool of enrolled users ran dry")
								return
							}
						}
						if err := be.signIn(be.newBrowser(), u); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
			})
		}
	})
}

// BenchmarkPasswordCheck is the ceiling of the sign-in benchmark on this
// machine: secrets.CheckPassword alone at the production cost, with the same
// number of workers. Divide BenchmarkFullSignInWithCode's argon2-default
// figure by this one to see how much of a sign-in is the password hash.
func BenchmarkPasswordCheck(b *testing.B) {
	hash, err := secrets.HashPassword(testPassword, secrets.DefaultArgon2)
	must(b, err)
	parallelClients(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := secrets.CheckPassword(hash, testPassword); !ok || err != nil {
				b.Errorf("CheckPassword = %v, %v", ok, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkSSOAuthorize: an authorization request from a browser that has a
// live session at the MFA level, for a client it already uses: no page, a
// redirect to the client with a code (the work of every silent sign-in of a
// second app). Each worker has its own browser and user.
func BenchmarkSSOAuthorize(b *testing.B) {
	benchStores(b, func(b *testing.B, open func(testing.TB) *store.Store) {
		be := newMFABench(b, open, testArgon2) // no password is checked while timed
		workers := parallelClients(b)
		be.enroll(workers)
		browsers := make([]*flowClient, workers)
		authURLs := make([]string, workers)
		for i := range browsers {
			browsers[i] = be.newBrowser()
			if err := be.signIn(browsers[i], be.takeUser()); err != nil {
				b.Fatal(err)
			}
			verifier := oauth2.GenerateVerifier()
			authURLs[i] = be.relying.cfg.AuthCodeURL("state-"+randomHex(8),
				oidc.Nonce("nonce-"+randomHex(8)), oauth2.S256ChallengeOption(verifier))
		}
		var next atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)-1) % workers
			bb, authURL := browsers[i], authURLs[i]
			for pb.Next() {
				resp, _, err := bb.get(authURL)
				if err != nil {
					b.Error(err)
					return
				}
				if bb.landed == nil || bb.landed.Query().Get("code") == "" {
					b.Errorf("silent authorization ended at %s (%d), not at the client with a code", resp.Request.URL, resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}

// mfaBench is a provider for the two-factor benchmarks: newEnvWith with the
// password cost under test and a frozen code clock, a confidential
// first-party client (no consent page) in a tenant that requires two
// factors, and users enrolled directly in the store.
type mfaBench struct {
	*env
	client    *store.Client
	relying   *rp
	step      int64  // the step of the frozen code clock
	hash      string // every user's password hash, at the cost under test
	transport *http.Transport
	ctx       context.Context // carries the HTTP client for x/oauth2
	users     chan *mfaBenchUser
}

// mfaBenchUser is an enrolled user and the next step its authenticator
// shows; the steps step-1, step and step+1 are inside the window of the
// frozen clock.
type mfaBenchUser struct {
	id, email string
	secret    mfa.Secret
	next      int64
}

func newMFABench(b *testing.B, open func(testing.TB) *store.Store, cost secrets.Argon2Params) *mfaBench {
	b.Helper()
	// The code clock stands still (at a mid-step instant) so a user has
	// exactly three fresh steps, whatever the benchmark's duration. Only
	// codes and lockouts go by it.
	frozen := mfa.StepTime(mfa.Step(time.Now())).Add(mfa.Period / 2)
	e := newEnvWith(b, open, func(o *idp.Options) {
		o.Argon2 = &cost
		o.CodeClock = func() time.Time { return frozen }
	})
	ctx := context.Background()
	be := &mfaBench{env: e, step: mfa.Step(frozen), users: make(chan *mfaBenchUser, 1<<16)}
	var err error
	be.hash, err = secrets.HashPassword(testPassword, cost)
	must(b, err)
	must(b, e.store.SetTenantRequireTFA(ctx, e.tenant.ID, true))
	secret, hash, err := e.srv.ClientSecret()
	must(b, err)
	be.client = &store.Client{
		Name: "Bench App", SecretHash: hash, RedirectURIs: []string{rpRedirect}, RequirePKCE: true,
		Scopes: claims.SupportedScopes, GrantTypes: []string{"authorization_code", "refresh_token"}, SkipConsent: true,
	}
	must(b, e.store.CreateClient(ctx, be.client))
	be.relying = e.rp(be.client, secret, oidc.ScopeOpenID, "profile", "email")
	be.transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	b.Cleanup(be.transport.CloseIdleConnections)
	be.ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: be.transport, Timeout: time.Minute})
	return be
}

// enroll adds n users with a confirmed authenticator to the pool.
func (be *mfaBench) enroll(n int) {
	be.t.Helper()
	if n > cap(be.users)-len(be.users) {
		be.t.Fatalf("cannot enroll %d more users; the pool holds %d", n, cap(be.users))
	}
	base := len(be.users)
	for i := range n {
		email := fmt.Sprintf("user%06d-%s@example.com", base+i, randomHex(4))
		id, secret := enrollTOTP(be.t, be.store, be.tenant.ID, email, be.hash)
		be.users <- &mfaBenchUser{id: id, email: email, secret: secret, next: be.step - mfa.Skew}
	}
}

// takeUser returns an unused user from the pool, or nil when it is empty.
func (be *mfaBench) takeUser() *mfaBenchUser {
	select {
	case u := <-be.users:
		return u
	default:
		return nil
	}
}

func (be *mfaBench) newBrowser() *flowClient { return newFlowClient(be.transport) }

// signIn signs u in with fb from the authorization request to the verified
// ID token, using u's next step for the code.
func (be *mfaBench) signIn(fb *flowClient, u *mfaBenchUser) error {
	verifier := oauth2.GenerateVerifier()
	nonce := "nonce-" + randomHex(8)
	authURL := be.relying.cfg.AuthCodeURL("state-"+randomHex(8), oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	ar, err := fb.toCodePage(be.issuer, authURL, u.email, testPassword)
	if err != nil {
		return err
	}
	code, err := mfa.GenerateCode(u.secret, mfa.StepTime(u.next))
	if err != nil {
		return err
	}
	u.next++
	landed, err := fb.submitCode(be.issuer, ar, code)
	if err != nil {
		return err
	}
	tok, err := be.relying.cfg.Exchange(be.ctx, landed.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("code exchange: %w", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := be.relying.verifier.Verify(be.ctx, rawID)
	if err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	var c struct {
		ACR string `json:"acr"`
	}
	if err := idt.Claims(&c); err != nil {
		return err
	}
	if idt.Nonce != nonce || c.ACR != claims.ACRMFA || idt.Subject != u.id {
		return fmt.Errorf("ID token: sub %q nonce %q acr %q; want %q, %q, %q", idt.Subject, idt.Nonce, c.ACR, u.id, nonce, claims.ACRMFA)
	}
	return nil
}

// enrollTOTP creates a user of tenantID with the given password hash and
// a confirmed authenticator (as if enrolled, last step 0), straight in the
// store.
func enrollTOTP(tb testing.TB, st *store.Store, tenantID, email, passwordHash string) (userID string, secret mfa.Secret) {
	tb.Helper()
	ctx := context.Background()
	u := &store.User{TenantID: tenantID, Email: email, PasswordHash: passwordHash}
	must(tb, st.CreateUser(ctx, u))
	secret, err := mfa.NewSecret(nil)
	must(tb, err)
	must(tb, st.BeginEnrollment(ctx, u.ID, secret))
	key, err := mfa.NewRecoveryKey(nil)
	must(tb, err)
	must(tb, st.ConfirmEnrollment(ctx, u.ID, secret, 0, mfa.HashRecoveryKey(key)))
	return u.ID, secret
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// flowClient is a browser for benchmarks and concurrent tests: it keeps
// cookies, follows redirects until the client's redirect URI (127.0.0.1:1,
// never dialled) and reports problems as errors, so it can run on any
// goroutine. One flowClient is for one goroutine at a time.
type flowClient struct {
	c      *http.Client
	landed *url.URL // the client redirect reached by the last request, if any
}

func newFlowClient(tr http.RoundTripper) *flowClient {
	jar, _ := cookiejar.New(nil)
	fc := &flowClient{}
	fc.c = &http.Client{Transport: tr, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == "127.0.0.1:1" {
				fc.landed = req.URL
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		}}
	return fc
}

// do sends req and returns the last response, its body read in full.
func (fc *flowClient) do(req *http.Request) (*http.Response, string, error) {
	fc.landed = nil
	resp, err := fc.c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func (fc *flowClient) get(u string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	return fc.do(req)
}

func (fc *flowClient) post(u string, form url.Values) (*http.Response, string, error) {
	req, err := formRequest(u, form)
	if err != nil {
		return nil, "", err
	}
	return fc.do(req)
}

func formRequest(u string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// toCodePage opens authURL and signs in with the password at base (the
// replica the browser talks to); it returns the pending request's id once
// the code page is shown.
func (fc *flowClient) toCodePage(base, authURL, email, password string) (string, error) {
	resp, body, err := fc.get(authURL)
	if err != nil {
		return "", err
	}
	if err := wantPage(resp, body, "/login"); err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	ar, err := authRequestOf(body)
	if err != nil {
		return "", err
	}
	resp, body, err = fc.post(base+"/login", url.Values{"auth_request": {ar}, "email": {email}, "password": {password}})
	if err != nil {
		return "", err
	}
	if err := wantPage(resp, body, "/login/code"); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return authRequestOf(body)
}

// submitCode posts code on the code page of the pending request ar and
// returns the redirect that reached the client.
func (fc *flowClient) submitCode(base, ar, code string) (*url.URL, error) {
	resp, body, err := fc.post(base+"/login/code", url.Values{"auth_request": {ar}, "code": {code}})
	if err != nil {
		return nil, err
	}
	if fc.landed == nil || fc.landed.Query().Get("code") == "" {
		return nil, fmt.Errorf("code: ended at %s (%d), not at the client with a code:\n%.600s", resp.Request.URL, resp.StatusCode, body)
	}
	return fc.landed, nil
}

func wantPage(resp *http.Response, body, path string) error {
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != path {
		return fmt.Errorf("ended at %s (%d), want the page %s:\n%.600s", resp.Request.URL, resp.StatusCode, path, body)
	}
	return nil
}

func authRequestOf(body string) (string, error) {
	m := authRequestRe.FindStringSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("no auth_request field in the page:\n%.600s", body)
	}
	return m[1], nil
}
