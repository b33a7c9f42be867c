package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/account"
	"github.com/portcullis-idp/portcullis/idp/admin"
	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/config"
	"github.com/portcullis-idp/portcullis/idp/credentials"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/logout"
	"github.com/portcullis-idp/portcullis/idp/metrics"
	"github.com/portcullis-idp/portcullis/idp/oauth"
	"github.com/portcullis-idp/portcullis/idp/passwordlink"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signin"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/throttle"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/mfa"
	"github.com/portcullis-idp/portcullis/templates"
)

// Options are the dependencies and settings of a Server; every field can
// be read off here and a test builds one in a few lines.
type Options struct {
	// Store seals TOTP secrets and the token HMAC secret itself, with its
	// Config.Cipher (serve gives it secrets.AtRestCipher(MasterKey)); New
	// fails with store.ErrNoCipher without one.
	Store     *store.Store
	Templates *templates.Templates
	Logger    *slog.Logger
	Issuer    string // absolute URL without trailing slash
	MasterKey []byte // 32 bytes; seals signing keys, keys client-secret digests and cookies

	SigningAlg string // RS256 (default) or ES256
	RSABits    int    // 2048 by default

	AccessTokenLifespan  time.Duration
	RefreshTokenLifespan time.Duration
	AuthCodeLifespan     time.Duration
	IDTokenLifespan      time.Duration
	SessionAbsolute      time.Duration
	SessionIdle          time.Duration

	// Argon2 overrides the password hashing cost (tests lower it).
	Argon2 *secrets.Argon2Params
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyPollInterval is how often a replica looks for signing keys
	// rotated by another (10 s by default).
	KeyPollInterval time.Duration
	// CodeClock is the clock TOTP codes and code-entry lockouts are judged
	// by; nil means Now. Tests move it forward to use a fresh time step
	// for every code instead of waiting 30 seconds.
	CodeClock func() time.Time
	// Logout tunes back-channel logout delivery.
	Logout logout.Options

	// TrustedProxies are the reverse proxies (CIDR prefixes) whose
	// Forwarded / X-Forwarded-For headers give the client address; none
	// by default.
	TrustedProxies []string
	// TrustedProxyHeader is the header they write (web.HeaderXForwardedFor,
	// the default, or web.HeaderForwarded); the other is never read.
	TrustedProxyHeader string
	// HashingSlots and HashingQueue size the admission gate in front of
	// argon2id: at most HashingSlots hashes at once (default GOMAXPROCS),
	// HashingQueue more waiting (default 64), then 503.
	HashingSlots, HashingQueue int
	// Hashing, when set, is the gate itself (tests hold its places).
	Hashing *throttle.Gate
	// Rates are the per-address request limits of this replica; nil means
	// throttle.DefaultRates.
	Rates *throttle.Rates
	// PasswordLimits are the password failure counters' rules; the zero
	// value means credentials.DefaultPasswordLimits.
	PasswordLimits credentials.PasswordLimits
	// Metrics, when set, records the provider's metrics (serve exposes
	// them on metrics.listen); nil records nothing.
	Metrics *metrics.Metrics
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
		p := secrets.DefaultArgon2
		o.Argon2 = &p
	}
	if o.HashingSlots <= 0 {
		o.HashingSlots = runtime.GOMAXPROCS(0)
	}
	if o.HashingQueue <= 0 {
		o.HashingQueue = d.PasswordHashing.Queue
	}
	if o.Hashing == nil {
		o.Hashing = throttle.NewGate(o.HashingSlots, o.HashingQueue, maxHashingWait)
	}
	if o.Rates == nil {
		r := throttle.DefaultRates
		o.Rates = &r
	}
}

// maxHashingWait bounds how long a password check waits for the gate.
const maxHashingWait = 5 * time.Second

// Server is the OpenID provider: the domains (idp/signin, idp/oauth,
// idp/account, idp/admin, idp/logout) built once over one store and
// mounted on one route table (routes.go). It holds no logic of its own.
type Server struct {
	opts     Options
	store    *store.Store
	keys     *signing.Keys
	logouts  *logout.Worker
	provider fosite.OAuth2Provider
	pages    *web.Pages
	oauth    *oauth.Endpoints
	creds    *credentials.Checker
	secure   bool // cookies Secure, HSTS: false only for an http loopback issuer
	proxies  web.Proxies
	limits   routeLimits
	handler  http.Handler
	patterns []string // the route table, for Routes
}

// New builds a Server: it loads (or creates) the signing keys and the
// token HMAC secret, builds every domain and mounts them.
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
	cipher, err := secrets.AtRestCipher(o.MasterKey)
	if err != nil {
		return nil, err
	}
	proxies, err := web.ParseProxies(o.TrustedProxies, o.TrustedProxyHeader)
	if err != nil {
		return nil, fmt.Errorf("idp: trusted proxies: %w", err)
	}
	st := o.Store
	s := &Server{opts: o, store: st, secure: iss.Scheme == "https", proxies: proxies}
	s.limits = newRouteLimits(*o.Rates, o.Now, o.Metrics)

	s.keys = signing.New(st, cipher, o.SigningAlg, o.RSABits, o.IDTokenLifespan+o.AccessTokenLifespan, o.Logger)
	if err := s.keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("idp: signing keys: %w", err)
	}
	secret, err := st.OAuthHMACSecret(ctx)
	if err != nil {
		return nil, fmt.Errorf("idp: token secret: %w", err)
	}
	provider, accessTokens := oauth.NewProvider(oauth.ProviderConfig{
		Issuer:               o.Issuer,
		GlobalSecret:         secret,
		MasterKey:            o.MasterKey,
		AccessTokenLifespan:  o.AccessTokenLifespan,
		RefreshTokenLifespan: o.RefreshTokenLifespan,
		AuthCodeLifespan:     o.AuthCodeLifespan,
		IDTokenLifespan:      o.IDTokenLifespan,
	}, st, s.keys)
	s.provider = provider

	cookies := sessions.NewCookieStore(secrets.DeriveKey(o.MasterKey, "cookie-hash"), secrets.DeriveKey(o.MasterKey, "cookie-block"))
	cookies.Options = &sessions.Options{
		Path: "/",
		// As long as the longest session a tenant may allow: the server,
		// not the cookie, decides when a session ends.
		MaxAge:   int(max(o.SessionAbsolute, store.MaxSessionLifetime).Seconds()),
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	s.logouts = logout.NewWorker()
	s.logouts.Store, s.logouts.Keys, s.logouts.Issuer = st, s.keys, o.Issuer
	s.logouts.Log, s.logouts.Now, s.logouts.SessionIdle, s.logouts.Options = o.Logger, o.Now, o.SessionIdle, o.Logout

	sess := &browser.Sessions{
		Store: st, Cookies: cookies, CookieName: browser.CookieName(s.secure), Log: o.Logger, Now: o.Now,
		Absolute: o.SessionAbsolute, Idle: o.SessionIdle, Ended: s.logouts.Wake,
	}
	flows := &flow.Flows{Store: st, Now: o.Now, NewID: secrets.RandomToken, Admit: s.limits.admitPending}
	s.creds = &credentials.Checker{
		Store: st, Sessions: sess, Argon2: *o.Argon2,
		Codes:          &mfa.Guard{Store: st, Clock: credentials.Clock(o.CodeClock)},
		PasswordLimits: o.PasswordLimits,
		Hashing:        o.Hashing,
		AccountKey:     secrets.DeriveKey(o.MasterKey, "sign-in-failure-account"),
	}
	s.pages = &web.Pages{Templates: o.Templates, Log: o.Logger, Known: knownErrors, Back: wayBack}
	gate := &signin.Gate{Flows: flows, Sessions: sess, Templates: o.Templates, Authenticators: st}
	passkeys, err := credentials.NewPasskeys(o.Issuer)
	if err != nil {
		return nil, err
	}

	s.oauth = &oauth.Endpoints{
		Store: st, Provider: provider, AccessTokens: accessTokens, Flows: flows, Sessions: sess,
		Keys: s.keys, Templates: o.Templates, Pages: s.pages, Issuer: o.Issuer, Now: o.Now,
	}
	if err := s.oauth.Prepare(); err != nil {
		return nil, err
	}
	domains := []interface{ Mount(*web.Router) }{
		s.oauth,
		&signin.Pages{Store: st, Flows: flows, Sessions: sess, Credentials: s.creds, Passkeys: passkeys, Templates: o.Templates},
		&account.Page{Store: st, Gate: gate, Sessions: sess, Credentials: s.creds, Passkeys: passkeys, Templates: o.Templates},
		&admin.Admin{Store: st, Gate: gate, Sessions: sess, Templates: o.Templates, Pages: s.pages, Tokens: provider, Issuer: o.Issuer, Passkeys: passkeys},
		&logout.Logout{Store: st, Flows: flows, Sessions: sess, Gate: gate, Keys: s.keys, Templates: o.Templates, Issuer: o.Issuer},
		&passwordlink.Page{Store: st, Sessions: sess, Templates: o.Templates, Hash: s.creds.HashPassword},
	}
	s.handler = s.routes(domains)
	s.instrument(st)
	go s.creds.Prepare()
	return s, nil
}

// instrument connects the metrics to what they count: audited sign-in
// events, back-channel outcomes, the hashing gate, the outbox and the
// connection pool (the requests are counted by the middleware).
func (s *Server) instrument(st *store.Store) {
	m := s.opts.Metrics
	if m == nil {
		return
	}
	st.OnAudit(func(e *store.AuditEvent) {
		if event, reason, ok := signInEvent(e); ok {
			m.SignInEvent(event, reason)
		}
	})
	s.logouts.Outcome = m.Delivery
	gate := s.opts.Hashing
	m.Gauge("portcullis_password_hashing_in_progress", "argon2id hashes running now (at most password_hashing.concurrency).",
		func() float64 { return float64(gate.InUse()) })
	m.Gauge("portcullis_password_hashing_waiting", "Password checks waiting for the hashing gate (at most password_hashing.queue).",
		func() float64 { return float64(gate.Waiting()) })
	m.Gauge("portcullis_backchannel_outbox_pending", "Back-channel logouts neither delivered nor given up, on every replica (the outbox backlog).",
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := st.PendingLogoutDeliveries(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		})
	m.Database(st.SQLDB())
}

// signInEvent tells the audit events that are sign-in outcomes (the
// catalogue's login.* and mfa.* events) and their reason: a wrong code's
// "wrong" or "reused", a password lock's scope, a refused passkey's
// "counter", "unknown" or "invalid".
func signInEvent(e *store.AuditEvent) (event, reason string, ok bool) {
	name := string(e.Event)
	if !strings.HasPrefix(name, "login.") && !strings.HasPrefix(name, "mfa.") {
		return "", "", false
	}
	// Only the events whose detail has a reason or a scope are parsed.
	if spec, known := audit.Lookup(e.Event); known && (slices.Contains(spec.Detail, "reason") || slices.Contains(spec.Detail, "scope")) {
		var detail struct{ Reason, Scope string }
		_ = json.Unmarshal([]byte(e.Detail), &detail)
		reason = detail.Reason + detail.Scope
	}
	switch reason { // a closed set, whatever the detail says
	case "", "wrong", "reused", credentials.ScopePair, credentials.ScopeAccount, credentials.ScopeAddress,
		"counter", "unknown", "invalid":
	default:
		reason = "other"
	}
	return name, reason, true
}

// MetricsHandler serves the metrics, or nil without them. serve mounts it
// on its own listener, never on the public port.
func (s *Server) MetricsHandler() http.Handler {
	if s.opts.Metrics == nil {
		return nil
	}
	return s.opts.Metrics.Handler()
}

// knownErrors maps the sentinels of the packages below the pages to the
// page each is.
func knownErrors(err error) *web.Error {
	if other, ok := errors.AsType[*flow.AtOtherStepError](err); ok {
		page := *web.ErrRequestAtOtherStep
		page.Back = web.Link{URL: other.URL, Label: "Continue where you left off"}
		return &page
	}
	if errors.Is(err, flow.ErrExpired) { // every page of a pending request
		return web.ErrRequestExpired
	}
	if store.IsUnavailable(err) { // the database, not the user or the app
		return web.ErrUnavailable
	}
	if errors.Is(err, throttle.ErrBusy) {
		return web.ErrBusy
	}
	if tooMany, ok := errors.AsType[*flow.TooManyError](err); ok {
		return web.TooManyRequests(tooMany.RetryAfter)
	}
	return nil
}

// wayBack is the way on an error page offers when the error names none.
// Where trying again can help (a rate limit, an outage, a server error),
// the same page again: a GET's own address, or the page of the pending
// sign-in a form was posted from. Otherwise the account or admin page for
// their own addresses, and the start page for the rest (an unknown
// address, an app's broken sign-in link, a sign-out link).
func wayBack(r *http.Request, e *web.Error) web.Link {
	path := r.URL.Path
	if e.Code == http.StatusTooManyRequests || e.Code >= 500 {
		if r.Method == http.MethodGet {
			return web.Link{URL: r.URL.RequestURI(), Label: "Try again"}
		}
		if r.Method == http.MethodPost && flow.IsPage(path) {
			if id := r.PostFormValue("auth_request"); id != "" {
				return web.Link{URL: flow.PageURL(path, id), Label: "Try again"}
			}
		}
	}
	switch {
	case path == "/account" || strings.HasPrefix(path, "/account/"):
		return web.Link{URL: "/account", Label: "Back to your account"}
	case path == "/admin" || strings.HasPrefix(path, "/admin/"):
		return web.Link{URL: "/admin", Label: "Back to administration"}
	}
	return web.LinkStart
}

// Run does the background work of one replica until ctx ends: picking up
// key rotations, delivering back-channel logouts and deleting expired
// rows.
func (s *Server) Run(ctx context.Context) {
	go s.keys.Watch(ctx, s.opts.KeyPollInterval)
	go s.logouts.Run(ctx)
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.store.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.Warn("cleanup failed", "err", err)
			} else if n > 0 {
				s.opts.Logger.Debug("expired rows deleted", "rows", n)
			}
		}
	}
}

// Handler is every route of the provider behind its middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// ClientSecret makes a new client secret and its digest for this server's key.
func (s *Server) ClientSecret() (string, []byte, error) {
	return secrets.NewClientSecret(s.opts.MasterKey)
}
