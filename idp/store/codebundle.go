package store

import "context"

// A code exchange reads three rows kept under the authorization code's
// signature: the code itself (twice: fosite reads it to validate the
// request and again to issue the tokens), its PKCE challenge and its
// OpenID Connect session. Within one request (WithRequestCache) the first
// of these reads fetches all three in one statement; the others are served
// from the request cache. Only reads are cached: the code's single use is
// still decided by InvalidateAuthorizeCodeSession's conditional UPDATE,
// and a deletion or invalidation in the request updates the cache.

type codeRowKey struct{ kind, signature string }

// codeKinds are the kinds stored under an authorization code's signature.
var codeKinds = []string{kindCode, kindPKCE, kindOIDC}

func isCodeKind(kind string) bool { return kind == kindCode || kind == kindPKCE || kind == kindOIDC }

// cachedCodeRow returns the row of (kind, signature) from the request
// cache, loading the signature's three rows at once on the first call.
// ok is false when the request has no cache (the caller reads the row
// itself).
func (s *Store) cachedCodeRow(ctx context.Context, kind, signature string) (row *tokenRow, ok bool, err error) {
	cache, _ := ctx.Value(clientCacheKey{}).(*clientCache)
	if cache == nil || !isCodeKind(kind) {
		return nil, false, nil
	}
	key := codeRowKey{kind, signature}
	cache.mu.Lock()
	row, ok = cache.codeRows[key]
	cache.mu.Unlock()
	if ok {
		return row, true, nil
	}
	rows, err := s.conn(ctx).Raw(
		`SELECT kind, request_id, client_id, active, requested_at, requested_scopes, granted_scopes,
		        requested_audience, granted_audience, form, session_data
		   FROM oauth_tokens WHERE signature = ? AND kind IN ?`, signature, codeKinds).Rows()
	if err != nil {
		return nil, true, err
	}
	defer rows.Close()
	found := map[string]*tokenRow{}
	for rows.Next() {
		r := &tokenRow{Signature: signature}
		if err := rows.Scan(&r.Kind, &r.RequestID, &r.ClientID, &r.Active, &r.RequestedAt, &r.RequestedScopes,
			&r.GrantedScopes, &r.RequestedAudience, &r.GrantedAudience, &r.Form, &r.SessionData); err != nil {
			return nil, true, err
		}
		r.RequestedAt = r.RequestedAt.UTC()
		found[r.Kind] = r
	}
	if err := rows.Err(); err != nil {
		return nil, true, err
	}
	cache.mu.Lock()
	for _, k := range codeKinds {
		cache.codeRows[codeRowKey{k, signature}] = found[k]
	}
	cache.mu.Unlock()
	return found[kind], true, nil
}

// forgetCodeRow records in the request cache what a write did to (kind,
// signature): deleted (nil) or made inactive.
func forgetCodeRow(ctx context.Context, kind, signature string, deleted bool) {
	cache, _ := ctx.Value(clientCacheKey{}).(*clientCache)
	if cache == nil || !isCodeKind(kind) {
		return
	}
	key := codeRowKey{kind, signature}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if deleted {
		if _, known := cache.codeRows[key]; known {
			cache.codeRows[key] = nil
		}
		return
	}
	if row := cache.codeRows[key]; row != nil {
		inactive := *row
		inactive.Active = false
		cache.codeRows[key] = &inactive
	}
}
