package store

import (
	"context"
	"database/sql"
	"errors"
)

// Introspection is the hottest database path (every API call a resource
// server checks), and it needs two rows: the authenticating client and the
// token. PrefetchIntrospection reads both in one round trip; the client
// lands in the request's client cache and the token row is handed to the
// one GetAccessTokenSession call that follows in the same request.

type prefetchedTokenKey struct{}

type prefetchedToken struct {
	kind, signature string
	row             *tokenRow // nil: the token does not exist
}

// PrefetchIntrospection loads the client clientID and the access token with
// signature accessSignature in one query, and returns a context carrying
// the token row for this request. The request must carry a request cache
// (WithRequestCache); without one, or when the client does not exist, it
// returns ctx unchanged and the normal lookups run.
func (s *Store) PrefetchIntrospection(ctx context.Context, clientID, accessSignature string) (context.Context, error) {
	cache, _ := ctx.Value(clientCacheKey{}).(*clientCache)
	if cache == nil || clientID == "" || accessSignature == "" {
		return ctx, nil
	}
	var (
		cs                                            clientScan
		reqID, tokClient, reqScopes, grantScopes      sql.NullString
		reqAudience, grantAudience, form, sessionData sql.NullString
		active                                        sql.NullBool
		requestedAt                                   sql.NullTime
	)
	dest := append(cs.dest(), &reqID, &tokClient, &active, &requestedAt, &reqScopes, &grantScopes,
		&reqAudience, &grantAudience, &form, &sessionData)
	err := s.conn(ctx).Raw(
		`SELECT `+clientColumns+`,
		        t.request_id, t.client_id, t.active, t.requested_at, t.requested_scopes, t.granted_scopes,
		        t.requested_audience, t.granted_audience, t.form, t.session_data
		   FROM clients c
		   LEFT JOIN oauth_tokens t ON t.kind = ? AND t.signature = ?
		  WHERE c.id = ?`, kindAccess, accessSignature, clientID).Row().Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return ctx, nil
	}
	if err != nil {
		return ctx, err
	}
	c, err := cs.client()
	if err != nil {
		return ctx, err
	}
	cache.mu.Lock()
	cache.m[c.ID] = c
	cache.mu.Unlock()
	pt := &prefetchedToken{kind: kindAccess, signature: accessSignature}
	if reqID.Valid {
		pt.row = &tokenRow{
			Kind: kindAccess, Signature: accessSignature, RequestID: reqID.String, ClientID: tokClient.String,
			Active: active.Bool, RequestedAt: requestedAt.Time.UTC(), RequestedScopes: reqScopes.String,
			GrantedScopes: grantScopes.String, RequestedAudience: reqAudience.String,
			GrantedAudience: grantAudience.String, Form: form.String, SessionData: sessionData.String,
		}
	}
	return context.WithValue(ctx, prefetchedTokenKey{}, pt), nil
}

// prefetched returns the row PrefetchIntrospection read for kind and
// signature: (row, true), with row nil when the token did not exist.
func prefetched(ctx context.Context, kind, signature string) (*tokenRow, bool) {
	pt, _ := ctx.Value(prefetchedTokenKey{}).(*prefetchedToken)
	if pt == nil || pt.kind != kind || pt.signature != signature {
		return nil, false
	}
	return pt.row, true
}
