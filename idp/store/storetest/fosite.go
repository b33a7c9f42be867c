package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// racers is how many goroutines contend in the single-winner cases.
const racers = 8

// rendezvousTimeout bounds how long a racer waits for the others to read.
const rendezvousTimeout = 50 * time.Millisecond

func testAuthorizeCode(t *testing.T, s *store.Store) {
	ctx := t.Context()
	req := newRequest(mustClient(t, s), newSession("alice", "sid-alice"))
	mustNil(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, "code-1", req))

	proto := store.NewSession()
	got, err := s.GetAuthorizeCodeSession(ctx, "code-1", proto)
	mustNil(t, "GetAuthorizeCodeSession", err)
	checkRequest(t, got, req)
	if got.GetSession() != fosite.Session(proto) {
		t.Error("GetAuthorizeCodeSession did not fill the prototype session")
	}

	mustNil(t, "InvalidateAuthorizeCodeSession", s.InvalidateAuthorizeCodeSession(ctx, "code-1"))
	got, err = s.GetAuthorizeCodeSession(ctx, "code-1", store.NewSession())
	mustIs(t, "Get after Invalidate", err, fosite.ErrInvalidatedAuthorizeCode)
	// fosite revokes the grant's tokens by the request ID of an invalidated
	// code, so the requester must come back together with the error.
	if got == nil {
		t.Fatal("invalidated code: requester is nil, want it returned with ErrInvalidatedAuthorizeCode")
	}
	checkRequest(t, got, req)

	mustIs(t, "second Invalidate", s.InvalidateAuthorizeCodeSession(ctx, "code-1"), fosite.ErrInvalidatedAuthorizeCode)

	got, err = s.GetAuthorizeCodeSession(ctx, "no-such-code", store.NewSession())
	mustIs(t, "Get missing code", err, fosite.ErrNotFound)
	if got != nil {
		t.Errorf("missing code returned requester %v", got)
	}
}

// testAuthorizeCodeRace exchanges one code from many goroutines at once.
func testAuthorizeCodeRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	mustNil(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, "code-plain", newRequest(c, newSession("bob", ""))))
	errs := race(racers, func(int) error { return s.InvalidateAuthorizeCodeSession(ctx, "code-plain") })
	oneWinner(t, errs, fosite.ErrInvalidatedAuthorizeCode)

	// The same race the way the token endpoint runs it: read the code,
	// then invalidate it, in one transaction. SQLite must queue the
	// writers (BEGIN IMMEDIATE) rather than fail them with SQLITE_BUSY.
	mustNil(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, "code-tx", newRequest(c, newSession("bob", ""))))
	all := newRendezvous(racers)
	errs = race(racers, func(i int) error {
		return inTx(ctx, s, func(ctx context.Context) error {
			_, err := s.GetAuthorizeCodeSession(ctx, "code-tx", store.NewSession())
			all.wait(rendezvousTimeout)
			if err != nil {
				return err
			}
			if err := s.InvalidateAuthorizeCodeSession(ctx, "code-tx"); err != nil {
				return err
			}
			return s.CreateAccessTokenSession(ctx, fmt.Sprintf("at-%d", i), newRequest(c, newSession("bob", "")))
		})
	})
	winner := oneWinner(t, errs, fosite.ErrInvalidatedAuthorizeCode)
	for i := range racers {
		_, err := s.GetAccessTokenSession(ctx, fmt.Sprintf("at-%d", i), store.NewSession())
		switch {
		case i == winner && err != nil:
			t.Errorf("winner's access token: %v", err)
		case i != winner && !isNotFound(err):
			t.Errorf("loser %d's access token: err = %v, want ErrNotFound (rolled back)", i, err)
		}
	}
}

// inTx runs fn between BeginTX and Commit (Rollback on error), the way
// fosite's storage.MaybeBeginTx callers do.
func inTx(ctx context.Context, s *store.Store, fn func(ctx context.Context) error) error {
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	if err := fn(txCtx); err != nil {
		if rerr := s.Rollback(txCtx); rerr != nil {
			return fmt.Errorf("%w (rollback: %v)", err, rerr)
		}
		return err
	}
	return s.Commit(txCtx)
}

func testAccessToken(t *testing.T, s *store.Store) {
	ctx := t.Context()
	req := newRequest(mustClient(t, s), newSession("carol", "sid-carol"))
	mustNil(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, "at-1", req))

	proto := store.NewSession()
	got, err := s.GetAccessTokenSession(ctx, "at-1", proto)
	mustNil(t, "GetAccessTokenSession", err)
	checkRequest(t, got, req)
	if got.GetSession() != fosite.Session(proto) {
		t.Error("GetAccessTokenSession did not fill the prototype session")
	}

	mustNil(t, "DeleteAccessTokenSession", s.DeleteAccessTokenSession(ctx, "at-1"))
	got, err = s.GetAccessTokenSession(ctx, "at-1", store.NewSession())
	mustIs(t, "Get deleted", err, fosite.ErrNotFound)
	if got != nil {
		t.Errorf("deleted token returned requester %v", got)
	}
	_, err = s.GetAccessTokenSession(ctx, "never-issued", store.NewSession())
	mustIs(t, "Get missing", err, fosite.ErrNotFound)
}

func testRefreshRotate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	req := newRequest(c, newSession("dave", "sid-dave"))
	other := newRequest(c, newSession("erin", "sid-erin"))
	mustNil(t, "create at-1", s.CreateAccessTokenSession(ctx, "at-1", req))
	mustNil(t, "create rt-1", s.CreateRefreshTokenSession(ctx, "rt-1", "at-1", req))
	mustNil(t, "create other at", s.CreateAccessTokenSession(ctx, "at-other", other))

	got, err := s.GetRefreshTokenSession(ctx, "rt-1", store.NewSession())
	mustNil(t, "GetRefreshTokenSession", err)
	checkRequest(t, got, req)

	mustNil(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, req.ID, "rt-1"))

	got, err = s.GetRefreshTokenSession(ctx, "rt-1", store.NewSession())
	mustIs(t, "Get rotated", err, fosite.ErrInactiveToken)
	// A replayed refresh token is how fosite detects theft; it revokes the
	// family by the request ID it reads from this requester.
	if got == nil {
		t.Fatal("rotated token: requester is nil, want it returned with ErrInactiveToken")
	}
	checkRequest(t, got, req)

	_, err = s.GetAccessTokenSession(ctx, "at-1", store.NewSession())
	mustIs(t, "access token of the rotated grant", err, fosite.ErrNotFound)
	_, err = s.GetAccessTokenSession(ctx, "at-other", store.NewSession())
	mustNil(t, "access token of another grant", err)

	mustIs(t, "second rotation", s.RotateRefreshToken(ctx, req.ID, "rt-1"), fosite.ErrInactiveToken)
	if err := s.RotateRefreshToken(ctx, req.ID, "never-issued"); !isNotFound(err) && !isInactive(err) {
		t.Errorf("rotating an unknown token: err = %v, want ErrInactiveToken or ErrNotFound", err)
	}

	mustNil(t, "DeleteRefreshTokenSession", s.DeleteRefreshTokenSession(ctx, "rt-1"))
	_, err = s.GetRefreshTokenSession(ctx, "rt-1", store.NewSession())
	mustIs(t, "Get deleted refresh token", err, fosite.ErrNotFound)
}

// testRefreshRotateRace runs fosite's refresh flow for one token from many
// goroutines: rotate, then store the new pair, in one transaction.
func testRefreshRotateRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	req := newRequest(mustClient(t, s), newSession("frank", "sid-frank"))
	mustNil(t, "create at-0", s.CreateAccessTokenSession(ctx, "at-0", req))
	mustNil(t, "create rt-0", s.CreateRefreshTokenSession(ctx, "rt-0", "at-0", req))

	all := newRendezvous(racers)
	errs := race(racers, func(i int) error {
		return inTx(ctx, s, func(ctx context.Context) error {
			old, err := s.GetRefreshTokenSession(ctx, "rt-0", store.NewSession())
			all.wait(rendezvousTimeout)
			if err != nil {
				return err
			}
			if err := s.RotateRefreshToken(ctx, old.GetID(), "rt-0"); err != nil {
				return err
			}
			next := newRequest(old.GetClient(), old.GetSession())
			next.ID = old.GetID()
			at, rt := fmt.Sprintf("at-%d", i+1), fmt.Sprintf("rt-%d", i+1)
			if err := s.CreateAccessTokenSession(ctx, at, next); err != nil {
				return err
			}
			return s.CreateRefreshTokenSession(ctx, rt, at, next)
		})
	})
	winner := oneWinner(t, errs, fosite.ErrInactiveToken)
	for i := range racers {
		_, err := s.GetRefreshTokenSession(ctx, fmt.Sprintf("rt-%d", i+1), store.NewSession())
		switch {
		case i == winner && err != nil:
			t.Errorf("winner's new refresh token: %v", err)
		case i != winner && !isNotFound(err):
			t.Errorf("loser %d's refresh token: err = %v, want ErrNotFound (rolled back)", i, err)
		}
	}
	_, err := s.GetAccessTokenSession(ctx, "at-0", store.NewSession())
	mustIs(t, "original access token", err, fosite.ErrNotFound)
}

func testRevokeByRequestID(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	mine := newRequest(c, newSession("gina", "sid-gina"))
	theirs := newRequest(c, newSession("hank", "sid-hank"))
	for _, tok := range []struct {
		sig string
		req *fosite.Request
	}{{"at-mine-1", mine}, {"at-mine-2", mine}, {"at-theirs", theirs}} {
		mustNil(t, "create "+tok.sig, s.CreateAccessTokenSession(ctx, tok.sig, tok.req))
	}
	mustNil(t, "create rt-mine", s.CreateRefreshTokenSession(ctx, "rt-mine", "at-mine-1", mine))
	mustNil(t, "create rt-theirs", s.CreateRefreshTokenSession(ctx, "rt-theirs", "at-theirs", theirs))

	mustNil(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, mine.ID))
	mustNil(t, "RevokeRefreshToken", s.RevokeRefreshToken(ctx, mine.ID))

	for _, sig := range []string{"at-mine-1", "at-mine-2"} {
		_, err := s.GetAccessTokenSession(ctx, sig, store.NewSession())
		mustIs(t, "revoked "+sig, err, fosite.ErrNotFound)
	}
	got, err := s.GetRefreshTokenSession(ctx, "rt-mine", store.NewSession())
	mustIs(t, "revoked rt-mine", err, fosite.ErrInactiveToken)
	if got == nil || got.GetID() != mine.ID {
		t.Errorf("revoked refresh token: requester %v, want request %q", got, mine.ID)
	}
	_, err = s.GetAccessTokenSession(ctx, "at-theirs", store.NewSession())
	mustNil(t, "other grant's access token", err)
	_, err = s.GetRefreshTokenSession(ctx, "rt-theirs", store.NewSession())
	mustNil(t, "other grant's refresh token", err)

	for name, err := range map[string]error{
		"RevokeAccessToken(unknown)":  s.RevokeAccessToken(ctx, "no-such-request"),
		"RevokeRefreshToken(unknown)": s.RevokeRefreshToken(ctx, "no-such-request"),
	} {
		if err != nil && !isNotFound(err) {
			t.Errorf("%s: %v, want nil or ErrNotFound", name, err)
		}
	}
}

func testPKCE(t *testing.T, s *store.Store) {
	ctx := t.Context()
	req := newRequest(mustClient(t, s), newSession("ivan", "sid-ivan"))
	mustNil(t, "CreatePKCERequestSession", s.CreatePKCERequestSession(ctx, "code-1", req))

	proto := store.NewSession()
	got, err := s.GetPKCERequestSession(ctx, "code-1", proto)
	mustNil(t, "GetPKCERequestSession", err)
	checkRequest(t, got, req)
	if got.GetSession() != fosite.Session(proto) {
		t.Error("GetPKCERequestSession did not fill the prototype session")
	}
	if got.GetRequestForm().Get("code_challenge") != req.Form.Get("code_challenge") {
		t.Error("code_challenge was not kept")
	}

	mustNil(t, "DeletePKCERequestSession", s.DeletePKCERequestSession(ctx, "code-1"))
	_, err = s.GetPKCERequestSession(ctx, "code-1", store.NewSession())
	mustIs(t, "Get deleted", err, fosite.ErrNotFound)
}

func testOIDCSession(t *testing.T, s *store.Store) {
	ctx := t.Context()
	req := newRequest(mustClient(t, s), newSession("judy", "sid-judy"))
	mustNil(t, "CreateOpenIDConnectSession", s.CreateOpenIDConnectSession(ctx, "code-1", req))

	// fosite hands over the token request, whose session is the one to fill.
	proto := store.NewSession()
	tokenReq := fosite.NewAccessRequest(proto)
	got, err := s.GetOpenIDConnectSession(ctx, "code-1", tokenReq)
	mustNil(t, "GetOpenIDConnectSession", err)
	checkRequest(t, got, req)
	if got.GetSession() != fosite.Session(proto) {
		t.Error("GetOpenIDConnectSession did not fill requester.GetSession()")
	}
	if proto.Claims.Nonce != "nonce-judy" || proto.SessionID != "sid-judy" {
		t.Errorf("prototype not filled: nonce %q, sid %q", proto.Claims.Nonce, proto.SessionID)
	}

	mustNil(t, "DeleteOpenIDConnectSession", s.DeleteOpenIDConnectSession(ctx, "code-1"))
	_, err = s.GetOpenIDConnectSession(ctx, "code-1", fosite.NewAccessRequest(store.NewSession()))
	mustIs(t, "Get deleted", err, fosite.ErrNotFound)
}

func testPAR(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	sess := newSession("kate", "")
	sess.SetExpiresAt(fosite.PushedAuthorizeRequestContext, now().Add(90*time.Second))
	ar := fosite.NewAuthorizeRequest()
	ar.Request = *withSecrets(newRequest(c, sess))
	ar.RedirectURI, _ = url.Parse("https://rp.example/cb?x=1")
	ar.State = "state-xyz"
	ar.ResponseTypes = fosite.Arguments{"code"}
	ar.ResponseMode = fosite.ResponseModeFormPost
	ar.DefaultResponseMode = fosite.ResponseModeQuery
	const uri = "urn:ietf:params:oauth:request_uri:abc"
	mustNil(t, "CreatePARSession", s.CreatePARSession(ctx, uri, ar))

	got, err := s.GetPARSession(ctx, uri)
	mustNil(t, "GetPARSession", err)
	// fosite's authorize endpoint type-asserts the pushed request.
	par, ok := got.(*fosite.AuthorizeRequest)
	if !ok {
		t.Fatalf("GetPARSession returned %T, want *fosite.AuthorizeRequest", got)
	}
	checkRequest(t, par, &ar.Request)
	if par.RedirectURI == nil || par.RedirectURI.String() != ar.RedirectURI.String() {
		t.Errorf("RedirectURI = %v, want %v", par.RedirectURI, ar.RedirectURI)
	}
	if par.State != ar.State {
		t.Errorf("State = %q, want %q", par.State, ar.State)
	}
	if !slices.Equal(par.ResponseTypes, ar.ResponseTypes) {
		t.Errorf("ResponseTypes = %q, want %q", par.ResponseTypes, ar.ResponseTypes)
	}
	if par.ResponseMode != ar.ResponseMode || par.DefaultResponseMode != ar.DefaultResponseMode {
		t.Errorf("response modes = %q/%q, want %q/%q", par.ResponseMode, par.DefaultResponseMode, ar.ResponseMode, ar.DefaultResponseMode)
	}
	if v := par.Form.Get("client_secret"); v != "" {
		t.Errorf("client_secret came back from storage: %q", v)
	}
	noSecretsStored(t, s)

	mustNil(t, "DeletePARSession", s.DeletePARSession(ctx, uri))
	_, err = s.GetPARSession(ctx, uri)
	mustIs(t, "Get deleted", err, fosite.ErrNotFound)
}

// testFormSecrets stores a request carrying credentials through every kind
// of row and checks that none of them reached the database.
func testFormSecrets(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	req := withSecrets(newRequest(c, newSession("leo", "sid-leo")))
	mustNil(t, "code", s.CreateAuthorizeCodeSession(ctx, "code-1", req))
	mustNil(t, "access", s.CreateAccessTokenSession(ctx, "at-1", req))
	mustNil(t, "refresh", s.CreateRefreshTokenSession(ctx, "rt-1", "at-1", req))
	mustNil(t, "pkce", s.CreatePKCERequestSession(ctx, "code-1", req))
	mustNil(t, "oidc", s.CreateOpenIDConnectSession(ctx, "code-1", req))
	noSecretsStored(t, s)

	got, err := s.GetAccessTokenSession(ctx, "at-1", store.NewSession())
	mustNil(t, "GetAccessTokenSession", err)
	for k := range formSecrets {
		if v := got.GetRequestForm().Get(k); v != "" {
			t.Errorf("form parameter %s came back from storage: %q", k, v)
		}
	}
}

// noSecretsStored scans every stored token row for a formSecrets value.
func noSecretsStored(t testing.TB, s *store.Store) {
	t.Helper()
	var rows []struct {
		Kind        string
		Form        string
		SessionData string
	}
	mustNil(t, "scan oauth_tokens", s.DB().WithContext(t.Context()).Table("oauth_tokens").
		Select("kind", "form", "session_data").Find(&rows).Error)
	if len(rows) == 0 {
		t.Fatal("no rows in oauth_tokens")
	}
	for _, r := range rows {
		for k, v := range formSecrets {
			if strings.Contains(r.Form, v) || strings.Contains(r.SessionData, v) {
				t.Errorf("%s row stores form parameter %s", r.Kind, k)
			}
		}
	}
}

// testSessionFields checks that store.Session survives the two copies
// fosite makes of it: JSON (storage) and Clone (refresh, introspection).
func testSessionFields(t *testing.T, s *store.Store) {
	ctx := t.Context()
	want := newSession("mia", "sid-mia")
	want.ClientID = "client-mia"

	check := func(what string, got *store.Session) {
		t.Helper()
		if got.SessionID != "sid-mia" || got.TenantID != "tenant-mia" || got.ClientID != "client-mia" {
			t.Errorf("%s: sid/tenant/client = %q/%q/%q", what, got.SessionID, got.TenantID, got.ClientID)
		}
		if got.Subject != "mia" || got.Username != want.Username {
			t.Errorf("%s: subject/username = %q/%q", what, got.Subject, got.Username)
		}
		if got.Claims == nil || got.Headers == nil {
			t.Fatalf("%s: claims or headers lost", what)
		}
		if !slices.Equal(got.Claims.AuthenticationMethodsReferences, []string{"pwd", "otp"}) {
			t.Errorf("%s: amr = %q", what, got.Claims.AuthenticationMethodsReferences)
		}
		if got.Claims.AuthenticationContextClassReference != want.Claims.AuthenticationContextClassReference {
			t.Errorf("%s: acr = %q", what, got.Claims.AuthenticationContextClassReference)
		}
		if !got.Claims.AuthTime.Equal(want.Claims.AuthTime) {
			t.Errorf("%s: auth_time = %v, want %v", what, got.Claims.AuthTime, want.Claims.AuthTime)
		}
		if !reflect.DeepEqual(got.Claims.Extra, want.Claims.Extra) {
			t.Errorf("%s: claims extra = %#v, want %#v", what, got.Claims.Extra, want.Claims.Extra)
		}
		if !reflect.DeepEqual(got.Headers.Extra, want.Headers.Extra) {
			t.Errorf("%s: headers extra = %#v", what, got.Headers.Extra)
		}
		for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
			if !got.GetExpiresAt(tt).Equal(want.GetExpiresAt(tt)) {
				t.Errorf("%s: expiry of %s = %v, want %v", what, tt, got.GetExpiresAt(tt), want.GetExpiresAt(tt))
			}
		}
	}

	b, err := json.Marshal(want)
	mustNil(t, "marshal", err)
	viaJSON := store.NewSession()
	mustNil(t, "unmarshal", json.Unmarshal(b, viaJSON))
	check("JSON", viaJSON)

	clone, ok := want.Clone().(*store.Session)
	if !ok {
		t.Fatalf("Clone returned %T, want *store.Session", want.Clone())
	}
	check("Clone", clone)
	// deepcopy, not a shallow copy: changing the clone leaves want alone.
	clone.SessionID = "changed"
	clone.Claims.AuthenticationMethodsReferences[0] = "changed"
	clone.Claims.Extra["email"] = "changed"
	clone.Claims.Extra["groups"].([]any)[0] = "changed"
	clone.Headers.Extra["kid"] = "changed"
	clone.SetExpiresAt(fosite.AccessToken, time.Time{})
	if want.SessionID != "sid-mia" || want.Claims.AuthenticationMethodsReferences[0] != "pwd" ||
		want.Claims.Extra["email"] != "mia@example.com" || want.Claims.Extra["groups"].([]any)[0] != "admins" ||
		want.Headers.Extra["kid"] != "key-1" || want.GetExpiresAt(fosite.AccessToken).IsZero() {
		t.Error("Clone shares state with the original")
	}
	if (*store.Session)(nil).Clone() != nil {
		t.Error("nil session cloned to non-nil")
	}

	// Through the store, into the prototype of every getter.
	req := newRequest(mustClient(t, s), want)
	mustNil(t, "code", s.CreateAuthorizeCodeSession(ctx, "sig", req))
	mustNil(t, "access", s.CreateAccessTokenSession(ctx, "sig", req))
	mustNil(t, "refresh", s.CreateRefreshTokenSession(ctx, "sig", "sig", req))
	mustNil(t, "pkce", s.CreatePKCERequestSession(ctx, "sig", req))
	mustNil(t, "oidc", s.CreateOpenIDConnectSession(ctx, "sig", req))
	getters := map[string]func(fosite.Session) (fosite.Requester, error){
		"GetAuthorizeCodeSession": func(p fosite.Session) (fosite.Requester, error) { return s.GetAuthorizeCodeSession(ctx, "sig", p) },
		"GetAccessTokenSession":   func(p fosite.Session) (fosite.Requester, error) { return s.GetAccessTokenSession(ctx, "sig", p) },
		"GetRefreshTokenSession":  func(p fosite.Session) (fosite.Requester, error) { return s.GetRefreshTokenSession(ctx, "sig", p) },
		"GetPKCERequestSession":   func(p fosite.Session) (fosite.Requester, error) { return s.GetPKCERequestSession(ctx, "sig", p) },
		"GetOpenIDConnectSession": func(p fosite.Session) (fosite.Requester, error) {
			return s.GetOpenIDConnectSession(ctx, "sig", fosite.NewAccessRequest(p))
		},
	}
	for name, get := range getters {
		proto := store.NewSession()
		got, err := get(proto)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.GetSession() != fosite.Session(proto) {
			t.Errorf("%s: requester session is not the prototype", name)
		}
		check(name, proto)
	}
}

func testClientAssertionJTI(t *testing.T, s *store.Store) {
	ctx := t.Context()
	n := now()
	mustNil(t, "unknown jti", s.ClientAssertionJWTValid(ctx, "jti-1"))
	mustNil(t, "SetClientAssertionJWT", s.SetClientAssertionJWT(ctx, "jti-1", n.Add(time.Hour)))
	mustIs(t, "known jti", s.ClientAssertionJWTValid(ctx, "jti-1"), fosite.ErrJTIKnown)
	mustIs(t, "set known jti", s.SetClientAssertionJWT(ctx, "jti-1", n.Add(time.Hour)), fosite.ErrJTIKnown)

	mustNil(t, "set expired jti", s.SetClientAssertionJWT(ctx, "jti-old", n.Add(-time.Hour)))
	mustNil(t, "expired jti is not known", s.ClientAssertionJWTValid(ctx, "jti-old"))
	// Setting any jti first drops the expired ones.
	mustNil(t, "set jti-2", s.SetClientAssertionJWT(ctx, "jti-2", n.Add(time.Hour)))
	var jtis []string
	mustNil(t, "list jtis", s.DB().WithContext(ctx).Table("client_assertion_jtis").Order("jti").Pluck("jti", &jtis).Error)
	if !slices.Equal(jtis, []string{"jti-1", "jti-2"}) {
		t.Errorf("stored jtis = %q, want the expired one cleaned", jtis)
	}
	mustNil(t, "reuse of an expired jti", s.SetClientAssertionJWT(ctx, "jti-old", n.Add(time.Hour)))
}

func testGetClient(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	got, err := s.GetClient(ctx, c.ID)
	mustNil(t, "GetClient", err)
	if got.GetID() != c.ID || string(got.GetHashedSecret()) != string(c.SecretHash) ||
		!slices.Equal(got.GetRedirectURIs(), c.RedirectURIs) || !slices.Equal(got.GetGrantTypes(), fosite.Arguments(c.GrantTypes)) ||
		!slices.Equal(got.GetScopes(), fosite.Arguments(c.Scopes)) || got.IsPublic() {
		t.Errorf("GetClient = %+v, want %+v", got, c)
	}
	if !slices.Equal(got.GetResponseTypes(), fosite.Arguments{"code"}) {
		t.Errorf("response types = %q, want only code", got.GetResponseTypes())
	}
	_, err = s.GetClient(ctx, "no-such-client")
	mustIs(t, "GetClient(missing)", err, fosite.ErrNotFound)
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, fosite.ErrNotFound) }
func isInactive(err error) bool { return err != nil && errors.Is(err, fosite.ErrInactiveToken) }

// testPrefetchIntrospection: the one-query read of client and access token
// gives GetAccessTokenSession the same answers as the plain lookups: the
// session of a live token, ErrInactiveToken for a revoked one, not found
// for an unknown one; the client is served from the request cache.
func testPrefetchIntrospection(t *testing.T, s *store.Store) {
	c := mustClient(t, s)
	base := store.WithRequestCache(t.Context())
	mustNil(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(base, "at-live", newRequest(c, newSession("pia", "sid-1"))))
	mustNil(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(base, "at-revoked", newRequest(c, newSession("pia", "sid-2"))))
	revoked, err := s.GetAccessTokenSession(base, "at-revoked", store.NewSession())
	mustNil(t, "GetAccessTokenSession", err)
	mustNil(t, "RevokeAccessToken", s.RevokeAccessToken(base, revoked.GetID()))

	for _, tc := range []struct {
		sig  string
		want func(error) bool
	}{
		{"at-live", func(err error) bool { return err == nil }},
		{"at-revoked", func(err error) bool { return isInactive(err) || isNotFound(err) }},
		{"at-unknown", isNotFound},
	} {
		ctx := store.WithRequestCache(t.Context())
		ctx, err := s.PrefetchIntrospection(ctx, c.ID, tc.sig)
		mustNil(t, "PrefetchIntrospection", err)
		req, err := s.GetAccessTokenSession(ctx, tc.sig, store.NewSession())
		if !tc.want(err) {
			t.Errorf("%s after prefetch: %v", tc.sig, err)
		}
		if err == nil && (req.GetSession().GetSubject() != "pia" || req.GetClient().GetID() != c.ID) {
			t.Errorf("%s after prefetch: subject %q, client %q", tc.sig, req.GetSession().GetSubject(), req.GetClient().GetID())
		}
		got, err := s.GetClient(ctx, c.ID)
		mustNil(t, "GetClient after prefetch", err)
		if got.GetID() != c.ID || string(got.GetHashedSecret()) != string(c.SecretHash) {
			t.Errorf("cached client = %+v", got)
		}
	}
	// An unknown client, or no request cache: the context comes back as
	// it was, and the lookups run as usual.
	ctx := store.WithRequestCache(t.Context())
	if got, err := s.PrefetchIntrospection(ctx, "no-such-client", "at-live"); err != nil || got != ctx {
		t.Errorf("unknown client: %v, context changed %v", err, got != ctx)
	}
	if got, err := s.PrefetchIntrospection(t.Context(), c.ID, "at-live"); err != nil || got != t.Context() {
		t.Errorf("no request cache: %v", err)
	}
}
