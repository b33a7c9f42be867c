package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/portcullis-idp/portcullis/idp/audit"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// NewID returns a random, opaque, URL-safe identifier (128 bits).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// NormalizeEmail is how emails are compared and stored: trimmed, lower case.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// --- tenants ---

// CreateTenant inserts t, filling ID and timestamps. A taken slug is ErrConflict.
func (s *Store) CreateTenant(ctx context.Context, t *Tenant) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	if t.SecondFactors == "" {
		t.SecondFactors = FactorsAny
	}
	return translate(s.conn(ctx).Create(t).Error)
}

// TenantBySlug finds a tenant by slug.
func (s *Store) TenantBySlug(ctx context.Context, slug string) (*Tenant, error) {
	var t Tenant
	err := s.conn(ctx).Where("slug = ?", slug).Take(&t).Error
	return &t, translate(err)
}

// TenantByID finds a tenant by id.
func (s *Store) TenantByID(ctx context.Context, id string) (*Tenant, error) {
	var t Tenant
	err := s.conn(ctx).Where("id = ?", id).Take(&t).Error
	return &t, translate(err)
}

// ListTenants returns every tenant ordered by slug.
func (s *Store) ListTenants(ctx context.Context) ([]Tenant, error) {
	var ts []Tenant
	return ts, s.conn(ctx).Order("slug").Find(&ts).Error
}

// SetTenantRequireTFA changes the policy flag.
func (s *Store) SetTenantRequireTFA(ctx context.Context, tenantID string, on bool) error {
	return s.updateTenant(ctx, tenantID, map[string]any{"require_tfa": on})
}

// updateTenant sets fields (and updated_at) of the tenant; ErrNotFound
// when there is no such tenant.
func (s *Store) updateTenant(ctx context.Context, tenantID string, fields map[string]any) error {
	fields["updated_at"] = s.now()
	res := s.conn(ctx).Model(&Tenant{}).Where("id = ?", tenantID).Updates(fields)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// --- users ---

// CreateUser inserts u (email normalized). A taken email is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	u.Email = NormalizeEmail(u.Email)
	if u.Role == "" {
		u.Role = RoleMember
	}
	return translate(s.conn(ctx).Create(u).Error)
}

// UserByEmail finds a user by (normalized) email.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	var u User
	err := s.conn(ctx).Where("email = ?", NormalizeEmail(email)).Take(&u).Error
	return &u, translate(err)
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	var u User
	err := s.conn(ctx).Where("id = ?", id).Take(&u).Error
	return &u, translate(err)
}

// ListUsers returns a tenant's users ordered by email.
func (s *Store) ListUsers(ctx context.Context, tenantID string) ([]User, error) {
	var us []User
	return us, s.conn(ctx).Where("tenant_id = ?", tenantID).Order("email").Find(&us).Error
}

// TouchLastLogin records a completed sign-in.
func (s *Store) TouchLastLogin(ctx context.Context, userID string) error {
	return s.conn(ctx).Model(&User{}).Where("id = ?", userID).Update("last_login_at", s.now()).Error
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	return s.conn(ctx).Model(&User{}).Where("id = ?", userID).
		Updates(map[string]any{"password_hash": hash, "updated_at": s.now()}).Error
}

// --- clients ---

// Client is a relying party. It implements fosite.Client.
type Client struct {
	ID                     string `gorm:"primaryKey"`
	Name                   string
	SecretHash             []byte
	Public                 bool
	RedirectURIs           StringList `gorm:"column:redirect_uris;serializer:json"`
	PostLogoutRedirectURIs StringList `gorm:"column:post_logout_redirect_uris;serializer:json"`
	BackchannelLogoutURI   string     `gorm:"column:backchannel_logout_uri"`
	SkipConsent            bool
	RequirePKCE            bool `gorm:"column:require_pkce"`
	TenantID               *string
	Scopes                 StringList `gorm:"serializer:json"`
	GrantTypes             StringList `gorm:"serializer:json"`
	// Introspect names the tokens this client may introspect besides its
	// own access and refresh tokens: the access tokens of the clients
	// listed by id, and with IntrospectTenant those of its own tenant's
	// users (see MayIntrospect).
	Introspect StringList `gorm:"column:introspect;serializer:json"`
	// WebOrigins are the origins (scheme://host[:port]) whose pages may
	// call the token, revocation and userinfo endpoints for this client
	// (CORS).
	WebOrigins StringList `gorm:"column:web_origins;serializer:json"`
	CreatedAt  time.Time
}

// AllowsOrigin reports whether a page of origin may call the protocol
// endpoints for c: an exact match with one of its web origins.
func (c *Client) AllowsOrigin(origin string) bool {
	return origin != "" && c.WebOrigins.has(origin)
}

// IntrospectTenant, in Client.Introspect, lets a client bound to a tenant
// introspect the access tokens of that tenant's users and clients.
const IntrospectTenant = "tenant"

// MayIntrospect reports whether c may learn about a token issued to the
// client tokenClient, belonging to tokenTenant (the tenant of its user, or
// for a client acting for itself that client's tenant; "" for none): its
// own tokens always; other clients' access tokens (never refresh tokens)
// when c lists that client, or lists IntrospectTenant and the token
// belongs to c's own tenant.
func (c *Client) MayIntrospect(tokenClient, tokenTenant string, refresh bool) bool {
	switch {
	case tokenClient == c.ID:
		return true
	case refresh:
		return false
	case c.Introspect.has(tokenClient):
		return true
	}
	return c.TenantID != nil && c.Introspect.has(IntrospectTenant) && tokenTenant != "" && tokenTenant == *c.TenantID
}

func (Client) TableName() string { return "clients" }

func (c *Client) GetID() string             { return c.ID }
func (c *Client) GetHashedSecret() []byte   { return c.SecretHash }
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments {
	return fosite.Arguments(c.GrantTypes)
}
func (c *Client) GetResponseTypes() fosite.Arguments { return fosite.Arguments{"code"} }
func (c *Client) GetScopes() fosite.Arguments        { return fosite.Arguments(c.Scopes) }
func (c *Client) IsPublic() bool                     { return c.Public }

// GetResponseModes implements fosite.ResponseModeClient: every client may
// use the query and form_post response modes.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}
func (c *Client) GetAudience() fosite.Arguments { return nil }

// AllowsTenant reports whether users of tenantID may sign in to c.
func (c *Client) AllowsTenant(tenantID string) bool {
	return c.TenantID == nil || *c.TenantID == tenantID
}

// HasPostLogoutRedirectURI reports an exact match with a registered URI.
func (c *Client) HasPostLogoutRedirectURI(uri string) bool {
	return c.PostLogoutRedirectURIs.has(uri)
}

// CreateClient inserts c (ID generated when empty).
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	if c.ID == "" {
		c.ID = NewID()
	}
	c.RedirectURIs = c.RedirectURIs.orEmpty()
	c.PostLogoutRedirectURIs = c.PostLogoutRedirectURIs.orEmpty()
	c.Scopes = c.Scopes.orEmpty()
	c.GrantTypes = c.GrantTypes.orEmpty()
	c.Introspect = c.Introspect.orEmpty()
	c.WebOrigins = c.WebOrigins.orEmpty()
	return translate(s.conn(ctx).Create(c).Error)
}

// UpdateClient stores c's settings (everything but its id, secret, type
// and creation time) over the client with c's id.
func (s *Store) UpdateClient(ctx context.Context, c *Client) error {
	res := s.conn(ctx).Model(&Client{}).Where("id = ?", c.ID).Updates(map[string]any{
		"name":                      c.Name,
		"redirect_uris":             c.RedirectURIs.jsonText(),
		"post_logout_redirect_uris": c.PostLogoutRedirectURIs.jsonText(),
		"backchannel_logout_uri":    c.BackchannelLogoutURI,
		"skip_consent":              c.SkipConsent,
		"require_pkce":              c.RequirePKCE,
		"tenant_id":                 c.TenantID,
		"scopes":                    c.Scopes.jsonText(),
		"grant_types":               c.GrantTypes.jsonText(),
		"introspect":                c.Introspect.jsonText(),
		"web_origins":               c.WebOrigins.jsonText(),
	})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

type clientCacheKey struct{}

type clientCache struct {
	mu sync.Mutex
	m  map[string]*Client
	// codeRows are the rows kept under authorization code signatures
	// (codebundle.go), keyed by kind and signature; a nil row is one known
	// not to exist.
	codeRows map[codeRowKey]*tokenRow
}

// WithRequestCache returns a context in which each client is read from the
// database once. One token or introspection request looks its client up
// for authentication and again for every stored request it loads; the
// cache lives only as long as the request, so a deleted or changed client
// is seen by the next one.
func WithRequestCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, clientCacheKey{}, &clientCache{m: map[string]*Client{}, codeRows: map[codeRowKey]*tokenRow{}})
}

// ClientByID finds a client.
func (s *Store) ClientByID(ctx context.Context, id string) (*Client, error) {
	cache, _ := ctx.Value(clientCacheKey{}).(*clientCache)
	if cache != nil {
		cache.mu.Lock()
		c, ok := cache.m[id]
		cache.mu.Unlock()
		if ok {
			return c, nil
		}
	}
	c, err := s.queryClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		cache.mu.Lock()
		cache.m[id] = c
		cache.mu.Unlock()
	}
	return c, nil
}

// queryClient reads one client with hand-written SQL: every token and
// introspection request authenticates a client, and gorm's reflection was
// a fifth of the lookup's cost.
func (s *Store) queryClient(ctx context.Context, id string) (*Client, error) {
	var cs clientScan
	err := s.conn(ctx).Raw(`SELECT `+clientColumns+` FROM clients c WHERE c.id = ?`, id).Row().Scan(cs.dest()...)
	if err != nil {
		return nil, lookupErr(err) // ErrNotFound, or ErrUnavailable: never a missing client
	}
	return cs.client()
}

// clientColumns are the columns clientScan reads, from clients aliased c.
const clientColumns = `c.id, c.name, c.secret_hash, c.public, c.redirect_uris, c.post_logout_redirect_uris,
	c.backchannel_logout_uri, c.skip_consent, c.require_pkce, c.tenant_id, c.scopes, c.grant_types, c.introspect, c.web_origins, c.created_at`

// clientScan receives clientColumns.
type clientScan struct {
	c                                     Client
	tenant                                sql.NullString
	redirects, postLogout, scopes, grants string
	introspect, webOrigins                string
}

func (cs *clientScan) dest() []any {
	c := &cs.c
	return []any{&c.ID, &c.Name, &c.SecretHash, &c.Public, &cs.redirects, &cs.postLogout, &c.BackchannelLogoutURI,
		&c.SkipConsent, &c.RequirePKCE, &cs.tenant, &cs.scopes, &cs.grants, &cs.introspect, &cs.webOrigins, &c.CreatedAt}
}

func (cs *clientScan) client() (*Client, error) {
	c := cs.c
	for _, f := range []struct {
		raw string
		dst *StringList
	}{{cs.redirects, &c.RedirectURIs}, {cs.postLogout, &c.PostLogoutRedirectURIs}, {cs.scopes, &c.Scopes}, {cs.grants, &c.GrantTypes},
		{cs.introspect, &c.Introspect}, {cs.webOrigins, &c.WebOrigins}} {
		if err := json.Unmarshal([]byte(f.raw), f.dst); err != nil {
			return nil, fmt.Errorf("store: client %s: %w", c.ID, err)
		}
	}
	if cs.tenant.Valid {
		c.TenantID = &cs.tenant.String
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return &c, nil
}

// OriginRegistered reports whether any client lists origin among its web
// origins: what a CORS preflight, which names no client, is answered by.
func (s *Store) OriginRegistered(ctx context.Context, origin string) (bool, error) {
	if CheckWebOrigin(origin) != nil {
		// Not an origin a client could register (the header is free
		// text, possibly not even UTF-8): not worth a query.
		return false, nil
	}
	quoted, _ := json.Marshal(origin)
	escape := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	var lists []string
	err := s.conn(ctx).Raw(`SELECT web_origins FROM clients WHERE web_origins LIKE ? ESCAPE '\'`,
		"%"+escape.Replace(string(quoted))+"%").Scan(&lists).Error
	if err != nil {
		return false, err
	}
	for _, raw := range lists {
		var l StringList
		if json.Unmarshal([]byte(raw), &l) == nil && l.has(origin) {
			return true, nil
		}
	}
	return false, nil
}

// ListClients returns every client ordered by name.
func (s *Store) ListClients(ctx context.Context) ([]Client, error) {
	var cs []Client
	return cs, s.conn(ctx).Order("name, id").Find(&cs).Error
}

// DeleteClient removes a client and, by cascade, its consents; its tokens
// are deleted too so they stop working at once.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("id = ?", id).Delete(&Client{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return s.conn(ctx).Where("client_id = ?", id).Delete(&tokenRow{}).Error
	})
}

// --- consent ---

// ConsentedScopes returns the scopes a user already allowed a client.
func (s *Store) ConsentedScopes(ctx context.Context, userID, clientID string) ([]string, error) {
	var row consentRow
	err := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	return row.Scopes, err
}

// SaveConsent remembers the scopes a user allowed, merged with earlier
// ones. The row is created first and then read under a row lock, so two
// consents saved at once (two tabs, two replicas) both survive.
func (s *Store) SaveConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		now := s.now()
		if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&consentRow{
			UserID: userID, ClientID: clientID, Scopes: StringList{}, GrantedAt: now,
		}).Error; err != nil {
			return translate(err)
		}
		var row consentRow
		if err := db.Clauses(s.lockClause()).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&row).Error; err != nil {
			return translate(err)
		}
		merged := row.Scopes
		for _, sc := range scopes {
			if !merged.has(sc) {
				merged = append(merged, sc)
			}
		}
		return db.Model(&consentRow{}).Where("user_id = ? AND client_id = ?", userID, clientID).
			Updates(map[string]any{"scopes": merged.jsonText(), "granted_at": now}).Error
	})
}

// --- audit ---

// Audit appends an event to the audit log.
func (s *Store) Audit(ctx context.Context, e *AuditEvent) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	if e.Detail == "" {
		e.Detail = "{}"
	}
	if err := s.conn(ctx).Create(e).Error; err != nil {
		return err
	}
	if s.audited != nil {
		s.audited(e)
	}
	return nil
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	TenantID  string
	SubjectID string
	Event     audit.Event
	Limit     int
	// Before and After page through the log by (created_at, id): only
	// events older than Before, or newer than After (at most one is set).
	// The page is newest first either way.
	Before, After *AuditCursor
}

// AuditCursor is the place of an event in the log: its time and id, the
// key ListAudit orders by.
type AuditCursor struct {
	At time.Time
	ID int64
}

// CursorOf is the place of e in the log.
func CursorOf(e *AuditEvent) *AuditCursor { return &AuditCursor{At: e.CreatedAt.UTC(), ID: e.ID} }

// String is the cursor as a query parameter: the time in Unix
// nanoseconds, a dash, the id.
func (c *AuditCursor) String() string {
	return strconv.FormatInt(c.At.UnixNano(), 10) + "-" + strconv.FormatInt(c.ID, 10)
}

// ParseAuditCursor reads what AuditCursor.String wrote.
func ParseAuditCursor(v string) (*AuditCursor, error) {
	at, id, ok := strings.Cut(v, "-")
	ns, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || ns < 0 || n < 0 {
		return nil, fmt.Errorf("%w: not a position in the audit log", ErrInvalidArgument)
	}
	return &AuditCursor{At: time.Unix(0, ns).UTC(), ID: n}, nil
}

// ListAudit returns events newest first (by time, then id), at most
// Limit (1 to 1000; 100 otherwise).
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := s.conn(ctx).Where("tenant_id = ?", f.TenantID)
	if f.SubjectID != "" {
		q = q.Where("subject_id = ?", f.SubjectID)
	}
	if f.Event != "" {
		q = q.Where("event = ?", f.Event)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	order := "created_at DESC, id DESC"
	switch {
	case f.Before != nil:
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", f.Before.At, f.Before.At, f.Before.ID)
	case f.After != nil:
		q = q.Where("(created_at > ? OR (created_at = ? AND id > ?))", f.After.At, f.After.At, f.After.ID)
		order = "created_at, id"
	}
	var es []AuditEvent
	if err := q.Order(order).Limit(limit).Find(&es).Error; err != nil {
		return nil, err
	}
	if f.After != nil {
		slices.Reverse(es)
	}
	return es, nil
}

// CheckWebOrigin says what is wrong with a client's web origin, or nil:
// it must be a serialized origin as browsers send it, scheme://host[:port]
// in lower case with no path, https or (on a loopback host) http.
func CheckWebOrigin(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Errorf("%q is not an origin such as https://app.example.com", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: an origin is https (or http on a loopback host)", raw)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return fmt.Errorf("%q: http is allowed only on a loopback host; use https", raw)
	case u.Scheme == "https" && u.Port() == "443", u.Scheme == "http" && u.Port() == "80":
		return fmt.Errorf("%q: leave out the default port, as browsers do", raw)
	case OriginOf(raw) != raw:
		return fmt.Errorf("%q is not an origin: give scheme://host[:port] alone, in lower case, without a path or trailing slash", raw)
	}
	return nil
}

// OriginOf returns the origin (scheme://host[:port]) of an http or https
// URL, or "" for anything else (a native app's private-use scheme has no
// web origin).
func OriginOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// OriginsOf returns the distinct web origins of uris, in order.
func OriginsOf(uris []string) StringList {
	out := StringList{}
	for _, u := range uris {
		if o := OriginOf(u); o != "" && !out.has(o) {
			out = append(out, o)
		}
	}
	return out
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// UpdateClientBy is UpdateClient done by an administrator: the change and
// the audit event "client.updated" (the introspect list and web origins
// as they are now) in one transaction.
func (s *Store) UpdateClientBy(ctx context.Context, c *Client, tenantID string, actor Actor) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.UpdateClient(ctx, c); err != nil {
			return err
		}
		return s.auditAction(ctx, actor, &AuditEvent{Event: audit.ClientUpdated, TenantID: tenantID, SubjectID: c.ID}, struct {
			Introspect StringList `json:"introspect"`
			WebOrigins StringList `json:"web_origins"`
			Via        string     `json:"via,omitempty"`
		}{c.Introspect.orEmpty(), c.WebOrigins.orEmpty(), actor.Via})
	})
}
