package storetest

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// now is the wall clock cut to what every engine keeps (PostgreSQL stores
// microseconds), so a round trip compares with Equal.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NewTenant creates a tenant with a unique slug (RequireTFA on).
func NewTenant(t testing.TB, s *store.Store) *store.Tenant {
	t.Helper()
	tn := &store.Tenant{Slug: "acme-" + store.NewID()[:10], Name: "Acme", RequireTFA: true}
	if err := s.CreateTenant(t.Context(), tn); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	return tn
}

// NewUser creates a user of tenantID with a unique email.
func NewUser(t testing.TB, s *store.Store, tenantID string) *store.User {
	t.Helper()
	u := &store.User{TenantID: tenantID, Email: store.NewID() + "@example.com", Name: "Ada", PasswordHash: "$argon2id$stub"}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func mustClient(t testing.TB, s *store.Store) *store.Client {
	t.Helper()
	c := &store.Client{
		Name:         "RP " + store.NewID()[:6],
		SecretHash:   []byte("$2a$10$stub"),
		RedirectURIs: store.StringList{"https://rp.example/cb"},
		Scopes:       store.StringList{"openid", "profile", "email", "offline_access"},
		GrantTypes:   store.StringList{"authorization_code", "refresh_token"},
		RequirePKCE:  true,
	}
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	return c
}

// mustBrowserSession creates a live session of u; edit adjusts it first.
func mustBrowserSession(t testing.TB, s *store.Store, u *store.User, edit func(*store.BrowserSession)) *store.BrowserSession {
	t.Helper()
	n := now()
	bs := &store.BrowserSession{
		SecretHash: "hash-" + store.NewID(),
		UserID:     u.ID,
		TenantID:   u.TenantID,
		AuthTime:   n,
		AMR:        store.StringList{"pwd"},
		ExpiresAt:  n.Add(12 * time.Hour),
		UserAgent:  "storetest",
		IP:         "192.0.2.1",
	}
	if edit != nil {
		edit(bs)
	}
	if err := s.CreateBrowserSession(t.Context(), bs); err != nil {
		t.Fatalf("CreateBrowserSession: %v", err)
	}
	return bs
}

// newSession is a filled store.Session as the authorize endpoint builds it.
func newSession(subject, sid string) *store.Session {
	n := now()
	sess := store.NewSession()
	sess.Subject = subject
	sess.Username = subject + "@example.com"
	sess.SessionID = sid
	sess.TenantID = "tenant-" + subject
	sess.Claims.Subject = subject
	sess.Claims.Issuer = "https://idp.example/acme"
	sess.Claims.Nonce = "nonce-" + subject
	sess.Claims.AuthTime = n.Add(-time.Minute)
	sess.Claims.RequestedAt = n
	sess.Claims.AuthenticationMethodsReferences = []string{"pwd", "otp"}
	sess.Claims.AuthenticationContextClassReference = "urn:portcullis:mfa"
	sess.Claims.Extra = map[string]any{"email": subject + "@example.com", "groups": []any{"admins", "ops"}}
	sess.Headers.Extra = map[string]any{"kid": "key-1"}
	sess.SetExpiresAt(fosite.AuthorizeCode, n.Add(10*time.Minute))
	sess.SetExpiresAt(fosite.AccessToken, n.Add(time.Hour))
	sess.SetExpiresAt(fosite.RefreshToken, n.Add(30*24*time.Hour))
	return sess
}

// newRequest is a token request of client c carrying sess.
func newRequest(c fosite.Client, sess fosite.Session) *fosite.Request {
	r := fosite.NewRequest()
	r.ID = "req-" + store.NewID()
	r.RequestedAt = now()
	r.Client = c
	r.Session = sess
	r.RequestedScope = fosite.Arguments{"openid", "profile", "offline_access"}
	r.GrantedScope = fosite.Arguments{"openid", "profile"}
	r.RequestedAudience = fosite.Arguments{"https://api.example"}
	r.GrantedAudience = fosite.Arguments{"https://api.example"}
	r.Form = url.Values{
		"redirect_uri":   {"https://rp.example/cb"},
		"nonce":          {"n-0S6_WzA2Mj"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
	}
	return r
}

// formSecrets are request parameters a store must never write down, each
// with a value the tests look for in the raw rows.
var formSecrets = map[string]string{
	"client_secret":    "secret-client-secret-value",
	"client_assertion": "secret-client-assertion-value",
	"password":         "secret-password-value",
	"code_verifier":    "secret-code-verifier-value",
	"refresh_token":    "secret-refresh-token-value",
	"code":             "secret-code-value",
}

// withSecrets adds every formSecrets parameter to r's form.
func withSecrets(r *fosite.Request) *fosite.Request {
	for k, v := range formSecrets {
		r.Form.Set(k, v)
	}
	return r
}

// checkRequest compares what a Get returned with what was stored.
func checkRequest(t testing.TB, got fosite.Requester, want *fosite.Request) {
	t.Helper()
	if got == nil {
		t.Fatal("requester is nil")
	}
	if got.GetID() != want.ID {
		t.Errorf("ID = %q, want %q", got.GetID(), want.ID)
	}
	if got.GetClient() == nil || got.GetClient().GetID() != want.Client.GetID() {
		t.Errorf("client = %v, want %q", got.GetClient(), want.Client.GetID())
	}
	if !got.GetRequestedAt().Equal(want.RequestedAt) {
		t.Errorf("RequestedAt = %v, want %v", got.GetRequestedAt(), want.RequestedAt)
	}
	for _, f := range []struct {
		name      string
		got, want []string
	}{
		{"RequestedScope", got.GetRequestedScopes(), want.RequestedScope},
		{"GrantedScope", got.GetGrantedScopes(), want.GrantedScope},
		{"RequestedAudience", got.GetRequestedAudience(), want.RequestedAudience},
		{"GrantedAudience", got.GetGrantedAudience(), want.GrantedAudience},
	} {
		if !slices.Equal(f.got, f.want) {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	for k, v := range want.Form {
		if _, secret := formSecrets[k]; secret {
			continue
		}
		if g := got.GetRequestForm()[k]; !slices.Equal(g, v) {
			t.Errorf("Form[%q] = %q, want %q", k, g, v)
		}
	}
	sameJSON(t, "session", got.GetSession(), want.Session)
}

// sameJSON compares two values by their JSON encoding, which is exactly
// what a store keeps of a session.
func sameJSON(t testing.TB, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s differs:\n got %s\nwant %s", what, g, w)
	}
}

func mustNil(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// mustIs fails unless errors.Is(err, target).
func mustIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// race runs fn in n goroutines released at the same moment and returns
// what each returned.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// rendezvous lets racers wait for one another inside their transactions,
// so that all of them have read before any of them writes: where
// transactions only take the write lock when they first write, the losers
// then fail on their stale snapshot (SQLITE_BUSY). Where BEGIN already
// serialises them (SQLite's BEGIN IMMEDIATE) nobody else can arrive, and
// each racer waits out the timeout instead.
type rendezvous struct {
	mu      sync.Mutex
	want    int
	arrived int
	all     chan struct{}
}

func newRendezvous(n int) *rendezvous { return &rendezvous{want: n, all: make(chan struct{})} }

func (r *rendezvous) wait(timeout time.Duration) {
	r.mu.Lock()
	r.arrived++
	if r.arrived == r.want {
		close(r.all)
	}
	r.mu.Unlock()
	select {
	case <-r.all:
	case <-time.After(timeout):
	}
}

// oneWinner checks that exactly one racer succeeded and every other one
// lost cleanly with loser (not SQLITE_BUSY, a deadlock or a
// serialization failure); it returns the winner's index.
func oneWinner(t testing.TB, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Errorf("racer %d: err = %v, want nil or %v", i, err, loser)
		}
	}
	if winner < 0 {
		t.Errorf("no racer won: %v", errs)
	}
	return winner
}
