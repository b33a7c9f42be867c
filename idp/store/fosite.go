package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Token kinds: one row in oauth_tokens per (kind, signature).
const (
	kindCode    = "code"
	kindAccess  = "access"
	kindRefresh = "refresh"
	kindPKCE    = "pkce"
	kindOIDC    = "oidc"
	kindPAR     = "par"
)

// Every storage interface the enabled fosite handlers need, checked at
// compile time instead of by compose's runtime assertions.
var (
	_ fosite.ClientManager               = (*Store)(nil)
	_ fosite.PARStorage                  = (*Store)(nil)
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ fositestorage.Transactional        = (*Store)(nil)
	_ fosite.Client                      = (*Client)(nil)
)

// formSecrets are request parameters never written to the database.
var formSecrets = []string{"client_secret", "client_assertion", "password", "code_verifier", "refresh_token", "code"}

func encodeForm(form url.Values) string {
	clean := url.Values{}
	for k, v := range form {
		clean[k] = v
	}
	for _, k := range formSecrets {
		clean.Del(k)
	}
	return clean.Encode()
}

// GetClient implements fosite.ClientManager.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	// fosite answers any error here with invalid_client; the error it
	// wraps tells "no such client" (ErrNotFound) from "could not look it
	// up" (ErrUnavailable), which oauth.Normalize answers with 503.
	c, err := s.ClientByID(ctx, id)
	if err != nil {
		return nil, lookupErr(err)
	}
	return c, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var row jtiRow
	err := s.conn(ctx).Where("jti = ?", jti).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil
	case err != nil:
		return lookupErr(err)
	case row.ExpiresAt.After(s.now()):
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	db := s.conn(ctx)
	if err := db.Where("expires_at < ?", s.now()).Delete(&jtiRow{}).Error; err != nil {
		return err
	}
	err := db.Create(&jtiRow{JTI: jti, ExpiresAt: exp.UTC()}).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fosite.ErrJTIKnown
	}
	return err
}

// createRequest persists r under (kind, signature).
func (s *Store) createRequest(ctx context.Context, kind, signature string, r fosite.Requester, expiresAt time.Time) error {
	sess := r.GetSession()
	data, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("store: encode session: %w", err)
	}
	row := tokenRow{
		Kind:              kind,
		Signature:         signature,
		RequestID:         r.GetID(),
		ClientID:          r.GetClient().GetID(),
		Active:            true,
		RequestedAt:       r.GetRequestedAt().UTC(),
		ExpiresAt:         expiresAt.UTC(),
		RequestedScopes:   strings.Join(r.GetRequestedScopes(), " "),
		GrantedScopes:     strings.Join(r.GetGrantedScopes(), " "),
		RequestedAudience: strings.Join(r.GetRequestedAudience(), " "),
		GrantedAudience:   strings.Join(r.GetGrantedAudience(), " "),
		Form:              encodeForm(r.GetRequestForm()),
		SessionData:       string(data),
	}
	if sess != nil {
		row.Subject = sess.GetSubject()
		if b, ok := sess.(interface{ BrowserSessionID() string }); ok {
			row.SessionID = b.BrowserSessionID()
		}
	}
	if row.RequestedAt.IsZero() {
		row.RequestedAt = s.now()
	}
	return translate(s.conn(ctx).Create(&row).Error)
}

func (s *Store) expiry(r fosite.Requester, t fosite.TokenType) time.Time {
	if sess := r.GetSession(); sess != nil {
		if exp := sess.GetExpiresAt(t); !exp.IsZero() {
			return exp
		}
	}
	// No expiry recorded (for example refresh tokens without a lifespan):
	// keep the row for a long but finite time so cleanup can collect it.
	return s.now().Add(90 * 24 * time.Hour)
}

// loadRequest reads (kind, signature) into a requester whose session is
// the prototype passed by fosite. An inactive row is returned together with
// inactiveErr, as fosite's contracts require.
func (s *Store) loadRequest(ctx context.Context, kind, signature string, session fosite.Session, inactiveErr error) (*fosite.Request, error) {
	// Hand-written: this lookup runs on every token, refresh and
	// introspection request, and gorm's reflection was a fifth of its cost.
	if row, ok := prefetched(ctx, kind, signature); ok {
		if row == nil {
			return nil, ErrNotFound
		}
		return s.finishRequest(ctx, row, session, inactiveErr)
	}
	if row, ok, err := s.cachedCodeRow(ctx, kind, signature); ok {
		if err != nil {
			return nil, lookupErr(err)
		}
		if row == nil {
			return nil, ErrNotFound
		}
		return s.finishRequest(ctx, row, session, inactiveErr)
	}
	row := tokenRow{Kind: kind, Signature: signature}
	err := s.conn(ctx).Raw(
		`SELECT request_id, client_id, active, requested_at, requested_scopes, granted_scopes,
		        requested_audience, granted_audience, form, session_data
		   FROM oauth_tokens WHERE kind = ? AND signature = ?`, kind, signature).Row().
		Scan(&row.RequestID, &row.ClientID, &row.Active, &row.RequestedAt, &row.RequestedScopes, &row.GrantedScopes,
			&row.RequestedAudience, &row.GrantedAudience, &row.Form, &row.SessionData)
	if err != nil {
		return nil, lookupErr(err)
	}
	row.RequestedAt = row.RequestedAt.UTC()
	return s.finishRequest(ctx, &row, session, inactiveErr)
}

// finishRequest turns a token row into fosite's request; an inactive row
// comes with inactiveErr.
func (s *Store) finishRequest(ctx context.Context, row *tokenRow, session fosite.Session, inactiveErr error) (*fosite.Request, error) {
	req, err := s.rowToRequest(ctx, row, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, inactiveErr
	}
	return req, nil
}

func (s *Store) rowToRequest(ctx context.Context, row *tokenRow, session fosite.Session) (*fosite.Request, error) {
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, err
	}
	if session == nil {
		session = NewSession()
	}
	if err := json.Unmarshal([]byte(row.SessionData), session); err != nil {
		return nil, fmt.Errorf("store: decode session: %w", err)
	}
	form, err := url.ParseQuery(row.Form)
	if err != nil {
		return nil, fmt.Errorf("store: decode form: %w", err)
	}
	return &fosite.Request{
		ID:                row.RequestID,
		RequestedAt:       row.RequestedAt,
		Client:            client,
		RequestedScope:    strings.Fields(row.RequestedScopes),
		GrantedScope:      strings.Fields(row.GrantedScopes),
		RequestedAudience: strings.Fields(row.RequestedAudience),
		GrantedAudience:   strings.Fields(row.GrantedAudience),
		Form:              form,
		Session:           session,
	}, nil
}

func (s *Store) deleteRequest(ctx context.Context, kind, signature string) error {
	forgetCodeRow(ctx, kind, signature, true)
	return s.conn(ctx).Where("kind = ? AND signature = ?", kind, signature).Delete(&tokenRow{}).Error
}

// --- authorize codes ---

func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.createRequest(ctx, kindCode, code, r, s.expiry(r, fosite.AuthorizeCode))
}

func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.loadRequest(ctx, kindCode, code, session, fosite.ErrInvalidatedAuthorizeCode)
	if req == nil {
		return nil, err
	}
	return req, err
}

// InvalidateAuthorizeCodeSession marks a code used. The conditional update
// makes it single-use even when two exchanges race on two replicas.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	forgetCodeRow(ctx, kindCode, code, false)
	res := s.conn(ctx).Model(&tokenRow{}).
		Where("kind = ? AND signature = ? AND active = ?", kindCode, code, true).
		Update("active", false)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fosite.ErrInvalidatedAuthorizeCode
	}
	return nil
}

// --- access tokens ---

func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.createRequest(ctx, kindAccess, signature, r, s.expiry(r, fosite.AccessToken))
}

func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.loadRequest(ctx, kindAccess, signature, session, fosite.ErrInactiveToken)
	if req == nil || err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, kindAccess, signature)
}

// --- refresh tokens ---

func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	return s.createRequest(ctx, kindRefresh, signature, r, s.expiry(r, fosite.RefreshToken))
}

func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.loadRequest(ctx, kindRefresh, signature, session, fosite.ErrInactiveToken)
	if req == nil {
		return nil, err
	}
	return req, err
}

func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, kindRefresh, signature)
}

// RotateRefreshToken retires the used refresh token (kept, inactive, so a
// replay of it is recognised as reuse and revokes the family) and deletes
// the access tokens issued with it. The conditional update makes a refresh
// token single-use even when two refreshes race.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	db := s.conn(ctx)
	res := db.Model(&tokenRow{}).
		Where("kind = ? AND signature = ? AND active = ?", kindRefresh, signature, true).
		Update("active", false)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fosite.ErrInactiveToken
	}
	return db.Where("kind = ? AND request_id = ?", kindAccess, requestID).Delete(&tokenRow{}).Error
}

// RevokeRefreshToken deactivates every refresh token of the grant.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.conn(ctx).Model(&tokenRow{}).
		Where("kind = ? AND request_id = ?", kindRefresh, requestID).
		Update("active", false).Error
}

// RevokeAccessToken deletes every access token of the grant.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.conn(ctx).Where("kind = ? AND request_id = ?", kindAccess, requestID).Delete(&tokenRow{}).Error
}

// RevokeTokensBySession ends every token issued through a browser session.
func (s *Store) RevokeTokensBySession(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	return revokeSessionTokens(s.conn(ctx), []string{sessionID})
}

// revokeSessionTokens ends the tokens issued through the sessions ids:
// access tokens are deleted (introspection then finds nothing), refresh
// tokens and codes are deactivated (a later use is detected as reuse).
func revokeSessionTokens(db *gorm.DB, ids []string) error {
	if err := db.Where("kind = ? AND session_id IN ?", kindAccess, ids).Delete(&tokenRow{}).Error; err != nil {
		return err
	}
	return db.Model(&tokenRow{}).Where("kind IN ? AND session_id IN ?", []string{kindRefresh, kindCode}, ids).
		Update("active", false).Error
}

// --- PKCE ---

func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.createRequest(ctx, kindPKCE, signature, r, s.expiry(r, fosite.AuthorizeCode))
}

func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.loadRequest(ctx, kindPKCE, signature, session, fosite.ErrNotFound)
	if req == nil || err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, kindPKCE, signature)
}

// --- OpenID Connect ---

// fosite keys the OpenID Connect session by the authorization code
// itself; the store keys it by the code's signature, like the code and its
// PKCE row: no usable code is kept at rest, and a code exchange reads the
// three rows in one statement (codebundle.go).
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.createRequest(ctx, kindOIDC, codeSignature(code), r, s.expiry(r, fosite.AuthorizeCode))
}

// GetOpenIDConnectSession fills requester.GetSession(), not a fresh one.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, code string, requester fosite.Requester) (fosite.Requester, error) {
	req, err := s.loadRequest(ctx, kindOIDC, codeSignature(code), requester.GetSession(), fosite.ErrNotFound)
	if req == nil || err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.deleteRequest(ctx, kindOIDC, codeSignature(code))
}

// codeSignature is the signature part of an authorization code in
// fosite's HMAC format ("key.signature"), what fosite itself stores codes
// under; anything else is stored under its SHA-256.
func codeSignature(code string) string {
	if key, sig, ok := strings.Cut(code, "."); ok && key != "" && sig != "" && !strings.Contains(sig, ".") {
		return sig
	}
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// --- pushed authorization requests (RFC 9126) ---

type parExtra struct {
	ResponseTypes []string `json:"response_types"`
	RedirectURI   string   `json:"redirect_uri"`
	State         string   `json:"state"`
	ResponseMode  string   `json:"response_mode"`
	DefaultMode   string   `json:"default_response_mode"`
}

type parEnvelope struct {
	Extra   parExtra        `json:"par"`
	Session json.RawMessage `json:"session"`
}

func (s *Store) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	sess, err := json.Marshal(r.GetSession())
	if err != nil {
		return err
	}
	redirect := ""
	if u := r.GetRedirectURI(); u != nil {
		redirect = u.String()
	}
	env, err := json.Marshal(parEnvelope{Extra: parExtra{
		ResponseTypes: r.GetResponseTypes(),
		RedirectURI:   redirect,
		State:         r.GetState(),
		ResponseMode:  string(r.GetResponseMode()),
		DefaultMode:   string(r.GetDefaultResponseMode()),
	}, Session: sess})
	if err != nil {
		return err
	}
	exp := s.now().Add(10 * time.Minute)
	if sess := r.GetSession(); sess != nil {
		if e := sess.GetExpiresAt(fosite.PushedAuthorizeRequestContext); !e.IsZero() {
			exp = e
		}
	}
	row := tokenRow{
		Kind: kindPAR, Signature: requestURI, RequestID: r.GetID(), ClientID: r.GetClient().GetID(),
		Active: true, RequestedAt: r.GetRequestedAt().UTC(), ExpiresAt: exp.UTC(),
		RequestedScopes:   strings.Join(r.GetRequestedScopes(), " "),
		GrantedScopes:     strings.Join(r.GetGrantedScopes(), " "),
		RequestedAudience: strings.Join(r.GetRequestedAudience(), " "),
		GrantedAudience:   strings.Join(r.GetGrantedAudience(), " "),
		Form:              encodeForm(r.GetRequestForm()),
		SessionData:       string(env),
	}
	if row.RequestedAt.IsZero() {
		row.RequestedAt = s.now()
	}
	return translate(s.conn(ctx).Create(&row).Error)
}

func (s *Store) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	var row tokenRow
	err := s.conn(ctx).Where("kind = ? AND signature = ? AND expires_at > ?", kindPAR, requestURI, s.now()).Take(&row).Error
	if err != nil {
		return nil, lookupErr(err)
	}
	var env parEnvelope
	if err := json.Unmarshal([]byte(row.SessionData), &env); err != nil {
		return nil, err
	}
	inner := row
	inner.SessionData = string(env.Session)
	req, err := s.rowToRequest(ctx, &inner, NewSession())
	if err != nil {
		return nil, err
	}
	ar := fosite.NewAuthorizeRequest()
	ar.Request = *req
	ar.ResponseTypes = env.Extra.ResponseTypes
	ar.State = env.Extra.State
	ar.ResponseMode = fosite.ResponseModeType(env.Extra.ResponseMode)
	ar.DefaultResponseMode = fosite.ResponseModeType(env.Extra.DefaultMode)
	if env.Extra.RedirectURI != "" {
		if u, err := url.Parse(env.Extra.RedirectURI); err == nil {
			ar.RedirectURI = u
		}
	}
	return ar, nil
}

// DeletePARSession consumes a request_uri; it can be used once.
func (s *Store) DeletePARSession(ctx context.Context, requestURI string) error {
	return s.deleteRequest(ctx, kindPAR, requestURI)
}

// --- housekeeping ---

// DeleteExpired removes expired tokens, pending requests and JTIs, and
// back-channel deliveries finished more than deliveryRetention ago; safe
// to run from every replica.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	now := s.now()
	var total int64
	for _, m := range []any{&tokenRow{}, &AuthRequest{}, &jtiRow{}} {
		res := s.conn(ctx).Where("expires_at < ?", now).Delete(m)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
	}
	n, err := s.deleteIdleSignInCounters(ctx, now)
	total += n
	if err != nil {
		return total, err
	}
	// Back-channel logout outcomes stay visible to admins for a month.
	cutoff := now.Add(-deliveryRetention)
	res := s.conn(ctx).Where("delivered_at < ? OR failed_at < ?", cutoff, cutoff).Delete(&LogoutDelivery{})
	if res.Error != nil {
		return total, res.Error
	}
	return total + res.RowsAffected, nil
}

// deliveryRetention is how long finished back-channel deliveries are kept.
const deliveryRetention = 30 * 24 * time.Hour

// lockClause is FOR UPDATE on PostgreSQL and nothing on SQLite, where the
// transaction already holds the write lock (BEGIN IMMEDIATE): the SQLite
// dialector drops clause.Locking. (An empty clause.Expr would instead be
// added to WHERE as an empty condition, which is invalid SQL.)
func (s *Store) lockClause() clause.Expression {
	return clause.Locking{Strength: clause.LockingStrengthUpdate}
}
