package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/portcullis-idp/portcullis/idp/config"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// Options are the dependencies and settings of a Server; every field can
// be read off here and a test builds one in a few lines.
type Options struct {
	Store     *store.Store
	Templates *templates.Templates
	Logger    *slog.Logger
	Issuer    string // absolute URL without trailing slash
	MasterKey []byte // 32 bytes; seals keys at rest and derives cookie keys

	SigningAlg string // RS256 (default) or ES256
	RSABits    int    // 2048 by default

	AccessTokenLifespan  time.Duration
	RefreshTokenLifespan time.Duration
	AuthCodeLifespan     time.Duration
	IDTokenLifespan      time.Duration
	SessionAbsolute      time.Duration
	SessionIdle          time.Duration

	// Argon2 overrides the password hashing cost (tests lower it).
	Argon2 *Argon2Params
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyPollInterval is how often a replica looks for signing keys
	// rotated by another (10 s by default).
	KeyPollInterval time.Duration
	// CodeClock is the clock TOTP codes and code-entry lockouts are judged
	// by; nil means Now. Tests move it forward to use a fresh time step
	// for every code instead of waiting 30 seconds.
	CodeClock func() time.Time
	// Logout tunes back-channel logout delivery (backchannel.go).
	Logout LogoutOptions
}

// defaults fills what the caller left zero from config.Default(), the one
// place defaults are written.
func (o *Options) defaults() {
	d := config.Default()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SigningAlg == "" {
		o.SigningAlg = d.Signing.Alg
	}
	if o.RSABits == 0 {
		o.RSABits = d.Signing.RSABits
	}
	for _, f := range []struct {
		v   *time.Duration
		def config.Duration
	}{
		{&o.AccessTokenLifespan, d.Tokens.AccessTokenLifespan},
		{&o.RefreshTokenLifespan, d.Tokens.RefreshTokenLifespan},
		{&o.AuthCodeLifespan, d.Tokens.AuthCodeLifespan},
		{&o.IDTokenLifespan, d.Tokens.IDTokenLifespan},
		{&o.SessionAbsolute, d.Sessions.Absolute},
		{&o.SessionIdle, d.Sessions.Idle},
	} {
		if *f.v == 0 {
			*f.v = f.def.Std()
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeyPollInterval == 0 {
		o.KeyPollInterval = 10 * time.Second
	}
	if o.CodeClock == nil {
		o.CodeClock = o.Now
	}
	if o.Argon2 == nil {
		p := DefaultArgon2
		o.Argon2 = &p
	}
}

// Server is the OpenID provider: fosite, the sign-in pages and the
// browser sessions, mounted on one route table (routes.go).
type Server struct {
	opts   Options
	store  *store.Store
	tpl    *templates.Templates
	log    *slog.Logger
	issuer string
	secure bool // cookies Secure, HSTS: false only for an http loopback issuer
	keys   *Keys
	cipher *mfa.Cipher
	guard  *mfa.Guard
	// passwordGuard limits password attempts per user (login.go).
	passwordGuard *mfa.Guard
	// logoutWake nudges the back-channel logout worker after this replica
	// ended sessions (other replicas' endings are found by polling).
	logoutWake chan struct{}
	oauth      fosite.OAuth2Provider
	// accessTokens computes an access token's storage signature, for the
	// introspection prefetch.
	accessTokens oauth2.AccessTokenStrategy
	cookies      *sessions.CookieStore
	discovery    []byte
	// dummyHash is checked when the email is unknown, so a wrong email
	// costs the same argon2id work as a wrong password. Made in the
	// background at start, so it does not delay listening.
	dummyOnce sync.Once
	dummyHash string
	now       func() time.Time
}

// New builds a Server: it loads (or creates) the signing keys and the
// token HMAC secret, and renders discovery once.
func New(ctx context.Context, o Options) (*Server, error) {
	o.defaults()
	if o.Store == nil || o.Templates == nil {
		return nil, errors.New("idp: Store and Templates are required")
	}
	if len(o.MasterKey) != 32 {
		return nil, errors.New("idp: MasterKey must be 32 bytes")
	}
	iss, err := url.Parse(o.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("idp: bad issuer %q", o.Issuer)
	}
	cipher, err := AtRestCipher(o.MasterKey)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:          o,
		store:         o.Store,
		tpl:           o.Templates,
		log:           o.Logger,
		issuer:        o.Issuer,
		secure:        iss.Scheme == "https",
		cipher:        cipher,
		guard:         &mfa.Guard{Store: o.Store, Clock: guardClock(o.CodeClock)},
		passwordGuard: &mfa.Guard{Store: o.Store.PasswordAttempts(), Clock: guardClock(o.Now)},
		logoutWake:    make(chan struct{}, 1),
		now:           o.Now,
	}
	s.keys = newKeys(o.Store, cipher, o.SigningAlg, o.RSABits, o.IDTokenLifespan+o.AccessTokenLifespan, o.Logger)
	if err := s.keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("idp: signing keys: %w", err)
	}
	secret, err := globalSecret(ctx, o.Store, cipher)
	if err != nil {
		return nil, fmt.Errorf("idp: token secret: %w", err)
	}
	s.oauth, s.accessTokens = newProvider(providerConfig{
		Issuer:               o.Issuer,
		GlobalSecret:         secret,
		MasterKey:            o.MasterKey,
		AccessTokenLifespan:  o.AccessTokenLifespan,
		RefreshTokenLifespan: o.RefreshTokenLifespan,
		AuthCodeLifespan:     o.AuthCodeLifespan,
		IDTokenLifespan:      o.IDTokenLifespan,
	}, o.Store, s.keys)
	s.cookies = sessions.NewCookieStore(mfa.DeriveKey(o.MasterKey, "cookie-hash"), mfa.DeriveKey(o.MasterKey, "cookie-block"))
	s.cookies.Options = &sessions.Options{
		Path: "/",
		// As long as the longest session a tenant may allow: the server,
		// not the cookie, decides when a session ends.
		MaxAge:   int(max(o.SessionAbsolute, store.MaxSessionLifetime).Seconds()),
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if s.discovery, err = s.buildDiscovery(); err != nil {
		return nil, err
	}
	go s.dummyOnce.Do(s.makeDummyHash)
	return s, nil
}

// Run does the background work of one replica until ctx ends: picking up
// key rotations and deleting expired rows.
func (s *Server) Run(ctx context.Context) {
	go s.keys.Watch(ctx, s.opts.KeyPollInterval)
	go s.runLogoutDeliveries(ctx)
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.store.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("cleanup failed", "err", err)
			} else if n > 0 {
				s.log.Debug("expired rows deleted", "rows", n)
			}
		}
	}
}

// HashPassword hashes with the server's configured cost.
func (s *Server) HashPassword(pw string) (string, error) { return HashPassword(pw, *s.opts.Argon2) }

// ClientSecret makes a new client secret and its digest for this server's key.
func (s *Server) ClientSecret() (string, []byte, error) { return NewClientSecret(s.opts.MasterKey) }
