package flow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// Kind is the flow a pending request serves (see the package doc).
type Kind string

const (
	KindAuthorize Kind = "authorize" // a relying app's authorization request
	KindAccount   Kind = "account"   // a sign-in or enrollment for our own pages
	KindLogout    Kind = "logout"    // an RP-initiated logout awaiting confirmation
)

// Stage is where a pending request stands.
type Stage string

const (
	StageLogin        Stage = "login"         // waiting for email and password
	StageCode         Stage = "totp"          // password checked, waiting for a code or the recovery key
	StageEnroll       Stage = "enroll"        // enrollment step 1: scan the QR code
	StageEnrollKey    Stage = "enroll_key"    // step 2: store the recovery key
	StageEnrollVerify Stage = "enroll_verify" // step 3: confirm with a code
	StageSignedIn     Stage = "signed_in"     // signed in; the request it serves decides what is next
	StageConsented    Stage = "consented"     // the user allowed what the app asked for
	StageLogout       Stage = "logout"        // a logout waiting for the user's answer
)

// Paths of the pages that serve each stage, relative to the issuer.
const (
	PathLogin         = "/login"
	PathCode          = "/login/code"
	PathRecovery      = "/login/recovery"
	PathPasskey       = "/login/passkey"
	PathEnrollChoose  = "/enroll/choose"
	PathEnrollLater   = "/enroll/later"
	PathPasswordless  = "/login/passwordless"
	PathEnroll        = "/enroll"
	PathEnrollKey     = "/enroll/recovery-key"
	PathEnrollKeyFile = "/enroll/recovery-key.txt"
	PathEnrollVerify  = "/enroll/verify"
	PathConsent       = "/consent"
	PathAuthorize     = "/oauth2/auth"
	PathResume        = PathAuthorize + "/resume"
)

// TTL bounds how long a user may take to finish a pending request.
const TTL = 30 * time.Minute

// transitions lists, for each stage, the stages a request may move to.
// Anything else is a bug in a handler, refused by Advance; the table test
// walks every pair.
var transitions = map[Stage][]Stage{
	// The password: a code, an enrollment, or signed in at once. A
	// passwordless ceremony begun on the page stays at the password.
	StageLogin: {StageLogin, StageCode, StageEnroll, StageSignedIn},
	// A code signs in; a spent recovery key (or an authenticator reset by
	// an admin meanwhile) decides afresh, as after a password.
	StageCode: {StageSignedIn, StageCode, StageEnroll},
	// Step 1 again draws a new secret only on "Start over"; enrolled
	// meanwhile in another tab: a code instead. The Back button goes to
	// an earlier step.
	// Before the tenant's enrollment deadline, Later signs in with the
	// password alone.
	// A factor added beside others skips the recovery key (the user has
	// one).
	StageEnroll:    {StageEnroll, StageEnrollKey, StageEnrollVerify, StageCode, StageSignedIn},
	StageEnrollKey: {StageEnroll, StageEnrollVerify, StageCode},
	// The confirming code or passkey signs in; a secret replaced in
	// another tab starts over; a new WebAuthn ceremony stays.
	StageEnrollVerify: {StageEnroll, StageEnrollKey, StageSignedIn, StageCode, StageEnrollVerify},
	// On resume the authorization endpoint may find the session gone
	// (login) or a step-up asked for (code, enroll); the consent page's
	// Allow moves a signed-in request to consented.
	StageSignedIn:  {StageLogin, StageCode, StageEnroll, StageConsented},
	StageConsented: {StageLogin, StageCode, StageEnroll},
	StageLogout:    {},
}

// starts are the stages each kind of request may be created at.
var starts = map[Kind][]Stage{
	KindAuthorize: {StageLogin, StageCode, StageEnroll, StageSignedIn},
	// A sign-in, an admin's step-up, activation; adding a passkey beside
	// other factors starts at its confirming step.
	KindAccount: {StageLogin, StageCode, StageEnroll, StageEnrollVerify},
	KindLogout:  {StageLogout},
}

// CanMove reports whether a request may move from one stage to another.
func CanMove(from, to Stage) bool { return slices.Contains(transitions[from], to) }

// Path is the page that serves stage (for KindAuthorize; an account
// request that is signed in goes back to its own page instead, see
// Continue).
func Path(stage Stage) string {
	switch stage {
	case StageLogin:
		return PathLogin
	case StageCode:
		return PathCode
	case StageEnroll:
		return PathEnroll
	case StageEnrollKey:
		return PathEnrollKey
	case StageEnrollVerify:
		return PathEnrollVerify
	case StageSignedIn, StageConsented:
		return PathResume
	}
	return ""
}

// ErrExpired is what Load answers for a request that does not exist, has
// expired, belongs to another browser, or is not at a stage the page
// serves: to the user, all mean "start again".
var ErrExpired = errors.New("flow: pending request expired or already completed")

// AtOtherStepError is Load's ErrExpired for a request of this browser
// that lives on at another step than the page asked for (a page the Back
// button showed again from the browser's cache, or a second tab): the
// page cannot serve it, and URL is the page of the step it is at.
type AtOtherStepError struct{ URL string }

func (e *AtOtherStepError) Error() string { return ErrExpired.Error() + ": it is at " + e.URL }

// Is makes the error ErrExpired for errors.Is.
func (e *AtOtherStepError) Is(target error) bool { return target == ErrExpired }

// Pending is one pending request, with its form parsed once.
type Pending struct {
	store.AuthRequest
	form url.Values
}

// Kind is the flow this request serves.
func (p *Pending) Kind() Kind { return Kind(p.AuthRequest.Kind) }

// Stage is where the request stands.
func (p *Pending) Stage() Stage { return Stage(p.AuthRequest.Stage) }

// Form is the request's parameters: the authorization request as the app
// sent it, or what an account or logout flow keeps (never a secret).
func (p *Pending) Form() url.Values {
	if p.form == nil {
		p.form, _ = url.ParseQuery(p.AuthRequest.Form)
		if p.form == nil {
			p.form = url.Values{}
		}
	}
	return p.form
}

// URL is the page of the request's current stage, carrying its id.
func (p *Pending) URL() string { return PageURL(Path(p.Stage()), p.ID) }

// IsPage reports whether path is a page of a pending request that is
// both shown (GET, with the request id in the query, PageURL) and posted
// to: the password, code, passkey, recovery-key, enrollment and consent
// pages.
func IsPage(path string) bool {
	switch path {
	case PathLogin, PathCode, PathPasskey, PathRecovery, PathEnroll, PathEnrollKey, PathEnrollVerify, PathConsent:
		return true
	}
	return false
}

// PageURL is path with the pending request id in its query.
func PageURL(path, id string) string { return path + "?auth_request=" + url.QueryEscape(id) }

// Store is what the flow needs of the database.
type Store interface {
	CreateAuthRequest(ctx context.Context, ar *store.AuthRequest) error
	AuthRequestFor(ctx context.Context, id, browserID string) (*store.AuthRequest, error)
	MoveAuthRequest(ctx context.Context, from, to *store.AuthRequest) error
	DeleteAuthRequest(ctx context.Context, id string) error
}

// Flows creates, loads and moves pending requests.
type Flows struct {
	Store Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewID makes a request id (a random token).
	NewID func() string
	// Admit, when set, is asked before a pending request is stored (each
	// is a database row a stranger can make): it returns false and how
	// long to wait when the client opened too many lately.
	Admit func(ctx context.Context) (bool, time.Duration)
}

// TooManyError is Start's answer when Admit refused: the client opened too
// many pending requests lately and may try again after RetryAfter.
type TooManyError struct{ RetryAfter time.Duration }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("flow: too many pending sign-ins from this address; try again in %s", e.RetryAfter)
}

func (f *Flows) now() time.Time {
	if f.Now == nil {
		return time.Now().UTC()
	}
	return f.Now().UTC()
}

// Start is what a new pending request begins with.
type Start struct {
	Kind      Kind
	Stage     Stage
	BrowserID string // hash of the browser binding
	ClientID  string
	Form      url.Values
	// RequestedAt is when the app sent the request (prompt and max_age
	// are judged against it); zero means now.
	RequestedAt time.Time
	UserID      string // known already: a step-up or an account action
	SessionID   string // the session a step-up upgrades
	Factor      string // the factor being enrolled, when known at the start
	// Proved: the start itself checked a fresh second factor (adding a
	// passkey from the account page).
	Proved bool
}

// Start stores a new pending request.
func (f *Flows) Start(ctx context.Context, s Start) (*Pending, error) {
	if !slices.Contains(starts[s.Kind], s.Stage) {
		return nil, fmt.Errorf("flow: a %s request cannot start at %s", s.Kind, s.Stage)
	}
	if f.Admit != nil {
		if ok, retry := f.Admit(ctx); !ok {
			return nil, &TooManyError{RetryAfter: retry}
		}
	}
	now := f.now()
	p := &Pending{AuthRequest: store.AuthRequest{
		ID: f.NewID(), BrowserID: s.BrowserID, Kind: string(s.Kind), ClientID: s.ClientID,
		Form: s.Form.Encode(), Stage: string(s.Stage), UserID: s.UserID, SessionID: s.SessionID, Factor: s.Factor, Proved: s.Proved,
		CreatedAt: s.RequestedAt.UTC(), ExpiresAt: now.Add(TTL),
	}, form: s.Form}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if err := f.Store.CreateAuthRequest(ctx, &p.AuthRequest); err != nil {
		return nil, err
	}
	return p, nil
}

// Load returns this browser's pending request id when it is at one of the
// given stages (any stage when none are given), or ErrExpired.
func (f *Flows) Load(ctx context.Context, id, browserID string, at ...Stage) (*Pending, error) {
	if id == "" || len(id) > 100 || browserID == "" {
		return nil, ErrExpired
	}
	ar, err := f.Store.AuthRequestFor(ctx, id, browserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrExpired
	}
	if err != nil {
		return nil, err
	}
	p := &Pending{AuthRequest: *ar}
	if len(at) > 0 && !slices.Contains(at, p.Stage()) {
		if IsPage(Path(p.Stage())) {
			return nil, &AtOtherStepError{URL: p.URL()}
		}
		return nil, ErrExpired
	}
	return p, nil
}

// Learnt is what a step found out, recorded with its move.
type Learnt func(*store.AuthRequest)

// User records whose sign-in this is (after the password).
func User(id string) Learnt { return func(a *store.AuthRequest) { a.UserID = id } }

// Session records the browser session the request signed in with, or
// upgrades ("" forgets one: a new password starts a new session).
func Session(id string) Learnt { return func(a *store.AuthRequest) { a.SessionID = id } }

// Sealed records the sealed data of an enrollment in progress ("" drops it).
func Sealed(data string) Learnt { return func(a *store.AuthRequest) { a.SecretData = data } }

// Factor records the second factor the user chose to enroll ("" forgets
// the choice).
func Factor(kind string) Learnt { return func(a *store.AuthRequest) { a.Factor = kind } }

// Proved records that the request passed one of the user's existing
// second factors (the condition for enrolling another).
func Proved() Learnt { return func(a *store.AuthRequest) { a.Proved = true } }

// Ceremony records the WebAuthn ceremony begun ("" ends it: a completed
// ceremony is cleared by the move that completes it, so its challenge is
// answered once).
func Ceremony(data string) Learnt { return func(a *store.AuthRequest) { a.Ceremony = data } }

// Advance moves p to stage to, recording what the step learnt, if p is
// still where this request found it; otherwise (another tab, a replay) it
// answers ErrExpired and p is unchanged. A move the transition table does
// not allow is a bug and an error.
func (f *Flows) Advance(ctx context.Context, p *Pending, to Stage, learnt ...Learnt) error {
	from := p.Stage()
	if !CanMove(from, to) {
		return fmt.Errorf("flow: no move from %s to %s", from, to)
	}
	next := p.AuthRequest
	next.Stage = string(to)
	for _, l := range learnt {
		l(&next)
	}
	if err := f.Store.MoveAuthRequest(ctx, &p.AuthRequest, &next); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrExpired
		}
		return err
	}
	p.AuthRequest = next
	return nil
}

// Finish consumes p: of two requests finishing it, one gets ErrExpired.
func (f *Flows) Finish(ctx context.Context, p *Pending) error {
	err := f.Store.DeleteAuthRequest(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrExpired
	}
	return err
}
