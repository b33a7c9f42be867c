package store

import (
	"encoding/json"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
)

// Roles a user can have within a tenant.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Tenant is a customer account; its users share a policy.
type Tenant struct {
	ID         string `gorm:"primaryKey"`
	Slug       string
	Name       string
	RequireTFA bool `gorm:"column:require_tfa"`
	// Session lifetimes overriding the deployment's; 0 keeps its setting.
	SessionAbsoluteSeconds int
	SessionIdleSeconds     int
	// SecondFactors are the kinds users may set up and use: FactorsAny,
	// FactorTOTP or FactorWebAuthn (phishing-resistant only).
	SecondFactors string
	// EnrollmentDeadline, with RequireTFA, is when enrollment becomes
	// forced; before it a user without a second factor may choose Later.
	EnrollmentDeadline *time.Time
	// Passwordless lets users sign in with a discoverable passkey that
	// verifies them, without a password.
	Passwordless bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (Tenant) TableName() string { return "tenants" }

// User is a person who signs in. ID is the opaque, stable `sub`.
type User struct {
	ID           string `gorm:"primaryKey"`
	TenantID     string
	Email        string
	Name         string
	PasswordHash string
	Role         string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastLoginAt  *time.Time
}

func (User) TableName() string { return "users" }

// IsAdmin reports whether the user administers their tenant.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// StringList is a []string stored as a JSON array in a TEXT column
// (fields carry the `serializer:json` tag).
type StringList []string

// orEmpty keeps a nil list from being stored as NULL.
func (l StringList) orEmpty() StringList {
	if l == nil {
		return StringList{}
	}
	return l
}

// jsonText is the column value of l for map-based updates, which bypass
// gorm's serializer.
func (l StringList) jsonText() string {
	b, _ := json.Marshal([]string(l.orEmpty()))
	return string(b)
}

func (l StringList) has(v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// consentRow records which scopes a user allowed a client.
type consentRow struct {
	UserID    string     `gorm:"primaryKey"`
	ClientID  string     `gorm:"primaryKey"`
	Scopes    StringList `gorm:"serializer:json"`
	GrantedAt time.Time
}

func (consentRow) TableName() string { return "consents" }

// BrowserSession is a signed-in browser. ID is public (the `sid` claim);
// the cookie carries a separate secret stored only as SecretHash.
type BrowserSession struct {
	ID         string `gorm:"primaryKey"`
	SecretHash string
	UserID     string
	TenantID   string
	AuthTime   time.Time
	AMR        StringList `gorm:"column:amr;serializer:json"`
	ACR        string     `gorm:"column:acr"`
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
	IP         string `gorm:"column:ip"`
	EndedAt    *time.Time
	EndReason  string
	// IdleSeconds is the idle limit the session started with; 0 means the
	// deployment's.
	IdleSeconds int
}

func (BrowserSession) TableName() string { return "browser_sessions" }

type sessionClientRow struct {
	SessionID string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (sessionClientRow) TableName() string { return "session_clients" }

// AuthRequest is a pending authorization request, kept server-side between
// the redirect to /authorize and the final redirect back to the client.
type AuthRequest struct {
	ID        string `gorm:"primaryKey"`
	BrowserID string // hash of the browser binding held in the cookie
	// Kind is the flow the request serves and Stage where it stands in it;
	// idp/flow gives both their types and the transitions between stages.
	Kind      string
	ClientID  string // the relying app, or "" for Portcullis' own pages
	Form      string // the original request parameters, URL-encoded
	UserID    string // set once the password was checked
	SessionID string // the browser session that completed the request
	Stage     string
	// SecretData is the sealed recovery key shown during enrollment, kept
	// until the confirming code stores its hash: sealed by SealRecoveryKey,
	// opened by AuthRequestRecoveryKey.
	SecretData string
	// Factor is the second factor being enrolled ("", FactorTOTP or
	// FactorWebAuthn); Ceremony is the WebAuthn ceremony in progress
	// (its challenge, JSON), single use: the move that completes it
	// clears it, conditionally on the value read.
	Factor   string
	Ceremony string
	// Proved: the request passed one of the user's existing second
	// factors, which enrolling another one needs.
	Proved    bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

func (AuthRequest) TableName() string { return "auth_requests" }

// Second factors a user may hold.
const (
	FactorTOTP     = "totp"
	FactorWebAuthn = "webauthn"
	// FactorsAny is a tenant's SecondFactors allowing both kinds.
	FactorsAny = "any"
)

// AllowsTOTP reports whether the tenant's users may set up and use an
// authenticator app.
func (t *Tenant) AllowsTOTP() bool { return t.SecondFactors != FactorWebAuthn }

// AllowsWebAuthn reports whether they may set up and use passkeys.
func (t *Tenant) AllowsWebAuthn() bool { return t.SecondFactors != FactorTOTP }

// RequiresPhishingResistant reports whether only passkeys and security
// keys count as a second factor in the tenant.
func (t *Tenant) RequiresPhishingResistant() bool { return t.SecondFactors == FactorWebAuthn }

// Allowed is f with the kinds the tenant does not allow left out.
func (f SecondFactors) Allowed(t *Tenant) SecondFactors {
	return SecondFactors{TOTP: f.TOTP && t.AllowsTOTP(), WebAuthn: f.WebAuthn && t.AllowsWebAuthn()}
}

// InGrace reports whether, at now, the tenant's enrollment deadline is
// still ahead (users without a second factor may put enrollment off).
func (t *Tenant) InGrace(now time.Time) bool {
	return t.RequireTFA && t.EnrollmentDeadline != nil && now.Before(*t.EnrollmentDeadline)
}

// tokenRow persists one fosite request under one signature; kind tells
// which handler wrote it.
type tokenRow struct {
	Kind              string `gorm:"primaryKey"`
	Signature         string `gorm:"primaryKey"`
	RequestID         string
	ClientID          string
	Subject           string
	SessionID         string
	Active            bool
	RequestedAt       time.Time
	ExpiresAt         time.Time
	RequestedScopes   string
	GrantedScopes     string
	RequestedAudience string
	GrantedAudience   string
	Form              string
	SessionData       string
}

func (tokenRow) TableName() string { return "oauth_tokens" }

type jtiRow struct {
	JTI       string `gorm:"column:jti;primaryKey"`
	ExpiresAt time.Time
}

func (jtiRow) TableName() string { return "client_assertion_jtis" }

// SigningKey is a JWS key; PrivateKey is sealed with the master key.
type SigningKey struct {
	KID        string `gorm:"column:kid;primaryKey"`
	Alg        string
	PrivateKey string
	PublicJWK  string `gorm:"column:public_jwk"`
	CreatedAt  time.Time
	RetiredAt  *time.Time
}

func (SigningKey) TableName() string { return "signing_keys" }

type settingRow struct {
	Name  string `gorm:"primaryKey"`
	Value string
}

func (settingRow) TableName() string { return "settings" }

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	TenantID  string
	ActorID   string
	SubjectID string
	Event     audit.Event
	Detail    string
	IP        string `gorm:"column:ip"`
	UserAgent string
	CreatedAt time.Time
}

func (AuditEvent) TableName() string { return "audit_events" }

// LogoutDelivery is one back-channel logout notification owed to a relying
// app for an ended session (the outbox; see backchannel.go).
type LogoutDelivery struct {
	ID            int64 `gorm:"primaryKey;autoIncrement"`
	SessionID     string
	ClientID      string
	UserID        string
	TenantID      string
	URI           string `gorm:"column:uri"`
	Attempts      int    // sends so far: every claim counts one (ClaimLogoutDeliveries)
	NextAttemptAt time.Time
	LastError     string
	DeliveredAt   *time.Time
	FailedAt      *time.Time
	CreatedAt     time.Time
}

func (LogoutDelivery) TableName() string { return "logout_deliveries" }
