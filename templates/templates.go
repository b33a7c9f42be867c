package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

//go:embed *.html static/*
var files embed.FS

// layoutFile holds the shared document shell ("layout") and the partials
// every page may call. Each page file defines "content" and may override the
// "width" and "brand" blocks.
const layoutFile = "layout.html"

// Page names, one per typed method. The value is the file that defines the
// page's "content" template.
const (
	pageLogin             = "login.html"
	pageConsent           = "consent.html"
	pageError             = "error.html"
	pageFormPost          = "form_post.html"
	pageLogoutConfirm     = "logout_confirm.html"
	pageSignedOut         = "signed_out.html"
	pageTOTPChallenge     = "totp_challenge.html"
	pageRecoveryChallenge = "recovery_challenge.html"
	pageEnrollScan        = "enroll_scan.html"
	pageEnrollRecoveryKey = "enroll_recovery_key.html"
	pageEnrollVerify      = "enroll_verify.html"
	pageAccount           = "account.html"
	pageRecoveryKeyIssued = "recovery_key_issued.html"
	pageDemoHome          = "demo_home.html"
	pageDemoClaims        = "demo_claims.html"
	pageAdmin             = "admin.html"
	pageFailedCodes       = "failed_codes.html"
	pageHome              = "home.html"
	pageEnrollChoose      = "enroll_choose.html"
	pagePasskeyChallenge  = "passkey_challenge.html"
	pageEnrollPasskey     = "enroll_passkey.html"
	pageSetPassword       = "set_password.html"
	pageAdminConfirm      = "admin_confirm.html"
	pageAdminLink         = "admin_link.html"
)

// requiredPages is every page Load must find; a missing one fails Load.
var requiredPages = []string{
	pageLogin,
	pageConsent,
	pageError,
	pageFormPost,
	pageLogoutConfirm,
	pageSignedOut,
	pageTOTPChallenge,
	pageRecoveryChallenge,
	pageEnrollScan,
	pageEnrollRecoveryKey,
	pageEnrollVerify,
	pageAccount,
	pageRecoveryKeyIssued,
	pageDemoHome,
	pageDemoClaims,
	pageAdmin,
	pageFailedCodes,
	pageHome,
	pageEnrollChoose,
	pagePasskeyChallenge,
	pageEnrollPasskey,
	pageSetPassword,
	pageAdminConfirm,
	pageAdminLink,
}

// Templates holds every page, parsed once. It is safe for concurrent use.
type Templates struct {
	pages map[string]*template.Template
}

// Load parses the embedded layout and pages. It fails if any page is missing
// or does not parse, so a broken build is caught at start, not at first use.
func Load() (*Templates, error) {
	return load(files)
}

// Static returns the static assets (CSS, icons), to be served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path; "static" is a constant.
		panic(err)
	}
	return sub
}

// load parses layoutFile plus each of requiredPages from fsys. Every page
// gets its own clone of the layout so the pages' "content" definitions do not
// collide.
func load(fsys fs.FS) (*Templates, error) {
	var missing []string
	for _, name := range append([]string{layoutFile}, requiredPages...) {
		if _, err := fs.Stat(fsys, name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("templates: missing %q", missing)
	}

	base, err := template.New(layoutFile).Funcs(funcs).ParseFS(fsys, layoutFile)
	if err != nil {
		return nil, fmt.Errorf("templates: parse layout: %w", err)
	}
	if base.Lookup("layout") == nil {
		return nil, errors.New("templates: " + layoutFile + " does not define \"layout\"")
	}

	t := &Templates{pages: make(map[string]*template.Template, len(requiredPages))}
	for _, name := range requiredPages {
		clone, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("templates: clone layout for %s: %w", name, err)
		}
		page, err := clone.ParseFS(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", name, err)
		}
		if c := page.Lookup("content"); c == nil || c.Tree == nil || c.Tree.Root == nil || len(c.Tree.Root.Nodes) == 0 {
			return nil, fmt.Errorf("templates: %s does not define \"content\"", name)
		}
		t.pages[name] = page
	}
	return t, nil
}

var funcs = template.FuncMap{
	// dict builds a map from key/value pairs so a partial can take
	// several arguments: {{template "code-input" dict "ID" "code" "Autofocus" true}}.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

// render executes page into a buffer and copies it to w only when the whole
// page rendered, so a template error never leaves half a page written.
func (t *Templates) render(w io.Writer, page string, data any) error {
	tmpl, ok := t.pages[page]
	if !ok {
		return fmt.Errorf("templates: page %s not loaded", page)
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("templates: render %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// Page is the data every page shares. Each page type embeds it.
type Page struct {
	Title      string // shown as "<Title> · Portcullis"; each method fills a default when empty
	RequestID  string // shown for support on the error page
	CSPNonce   string // nonce of the page's scripts (FormPost's, the copy buttons'); the CSP allows only it
	SignedInAs string // email, empty when not signed in
	// SigningInAs is set instead of SignedInAs between the password and
	// the second factor: the header says "Signing in as", with the app
	// that asked (ForApp) and a way to start over as someone else.
	SigningInAs  string
	ForApp       string
	StartOverURL string
	// Nav is the header the account and admin pages share; nil elsewhere.
	Nav *Nav
}

// Pages of the shared header (Nav.Current).
const (
	NavAccount = "account"
	NavAdmin   = "admin"
)

// Nav is the header of the signed-in pages: links to /account and, for the
// tenant's admins, /admin, the current one marked (aria-current), and Sign
// out, a form that ends this browser's session as the account page's
// sessions list does.
type Nav struct {
	Current       string // NavAccount or NavAdmin
	Admin         bool   // show the link to /admin
	SignOutAction string // POST URL of Sign out
	SessionID     string // hidden field "session": the current session
}

func (p Page) titled(def string) Page {
	if p.Title == "" {
		p.Title = def
	}
	return p
}

// LoginPage is the email + password form.
type LoginPage struct {
	Page
	Action        string // form POST URL
	AuthRequestID string // hidden field "auth_request"
	Email         string // prefill from login_hint
	ClientName    string // "Sign in to continue to X"; may be empty
	Error         string
	// Passkey is the passwordless form, where some tenant allows it.
	Passkey *WebAuthnForm
}

// Login renders the sign-in form.
func (t *Templates) Login(w io.Writer, p LoginPage) error {
	p.Page = p.Page.titled("Sign in")
	return t.render(w, pageLogin, p)
}

// ScopeItem is one permission on the consent page.
type ScopeItem struct {
	Name        string
	Description string
}

// ConsentPage asks the user to allow a client the listed scopes.
type ConsentPage struct {
	Page
	Action        string
	AuthRequestID string // hidden field "auth_request"
	ClientName    string
	Scopes        []ScopeItem
}

// Consent renders the consent form (decision=allow|deny).
func (t *Templates) Consent(w io.Writer, p ConsentPage) error {
	p.Page = p.Page.titled("Allow access")
	return t.render(w, pageConsent, p)
}

// ErrorPage is the page the error adapter shows.
type ErrorPage struct {
	Page
	Status  int // HTTP status; shown as a small label when non-zero
	Heading string
	Message string
	// BackURL and BackLabel are the way on the page offers (start over,
	// try again, back to the account or admin page); none when empty.
	BackURL   string
	BackLabel string
}

// Error renders an error page with the request ID as a support reference.
func (t *Templates) Error(w io.Writer, p ErrorPage) error {
	p.Page = p.Page.titled("Something went wrong")
	if p.Heading == "" {
		p.Heading = "Something went wrong"
	}
	return t.render(w, pageError, p)
}

// Param is one hidden field of a form-post response.
type Param struct {
	Name  string
	Value string
}

// FormPostPage is the OAuth 2.0 Form Post response mode page.
type FormPostPage struct {
	Page
	RedirectURI string
	Params      []Param
}

// FormPost renders a form that posts Params to RedirectURI, submitted by a
// nonce'd inline script, with a Continue button for browsers without script.
func (t *Templates) FormPost(w io.Writer, p FormPostPage) error {
	p.Page = p.Page.titled("Continuing")
	return t.render(w, pageFormPost, p)
}

// LogoutConfirmPage asks before ending the session (RP-initiated logout).
type LogoutConfirmPage struct {
	Page
	Action          string
	LogoutRequestID string // hidden field "logout_request"
	ClientName      string // the app that asked; may be empty
}

// LogoutConfirm renders "Sign out of Portcullis?" (decision=yes|no).
func (t *Templates) LogoutConfirm(w io.Writer, p LogoutConfirmPage) error {
	p.Page = p.Page.titled("Sign out")
	return t.render(w, pageLogoutConfirm, p)
}

// HomePage is the start page, /: where to go when signed in, what this
// server is when not.
type HomePage struct {
	Page
	Email string // signed in as; empty when not signed in
	Admin bool   // links to /admin
}

// Home renders the start page.
func (t *Templates) Home(w io.Writer, p HomePage) error {
	p.Page = p.Page.titled("Portcullis")
	return t.render(w, pageHome, p)
}

// SignedOutPage confirms the session has ended.
type SignedOutPage struct {
	Page
	ReturnURL string // optional link back to the app
}

// SignedOut renders the signed-out confirmation.
func (t *Templates) SignedOut(w io.Writer, p SignedOutPage) error {
	p.Page = p.Page.titled("Signed out")
	return t.render(w, pageSignedOut, p)
}

// FailedCodesPage tells a user who just signed in that wrong codes were
// tried since their last sign-in.
type FailedCodesPage struct {
	Page
	Count       int
	ContinueURL string // where the sign-in goes on
}

// FailedCodes renders the warning about wrong codes.
func (t *Templates) FailedCodes(w io.Writer, p FailedCodesPage) error {
	p.Page = p.Page.titled("Wrong codes were tried")
	return t.render(w, pageFailedCodes, p)
}

// TOTPChallengePage asks for the 6-digit code.
type TOTPChallengePage struct {
	Page
	Action        string
	AuthRequestID string // hidden field "auth_request"
	Error         string
	RecoveryURL   string
	PasskeyURL    string // "Use a passkey instead", for a user who has one
	ThenNote      string // the code only confirms the user, who then sets up a passkey
}

// TOTPChallenge renders the second-step code form.
func (t *Templates) TOTPChallenge(w io.Writer, p TOTPChallengePage) error {
	p.Page = p.Page.titled("Enter your code")
	return t.render(w, pageTOTPChallenge, p)
}

// RecoveryPage asks for the recovery paper key.
type RecoveryPage struct {
	Page
	Action        string
	AuthRequestID string // hidden field "auth_request"
	Error         string
	BackURL       string // back to the code form
}

// RecoveryKeyChallenge renders the recovery-key form.
func (t *Templates) RecoveryKeyChallenge(w io.Writer, p RecoveryPage) error {
	p.Page = p.Page.titled("Use your recovery key")
	return t.render(w, pageRecoveryChallenge, p)
}

// EnrollScanPage is enrollment step 1: add the secret to an authenticator.
type EnrollScanPage struct {
	Page
	Action        string
	AuthRequestID string       // hidden field "auth_request"
	QRCodeDataURL template.URL // data:image/png;base64,...
	GroupedSecret string       // base32 secret in groups of four
	OTPAuthURL    template.URL // otpauth://totp/...
	AccountName   string
	Issuer        string
	// AfterRecovery explains why a user who just used the recovery key
	// sets up an authenticator again.
	AfterRecovery bool
	Later         Later
}

// EnrollScan renders enrollment step 1 of 3. The page shows a secret: send
// Cache-Control: no-store.
func (t *Templates) EnrollScan(w io.Writer, p EnrollScanPage) error {
	p.Page = p.Page.titled("Set up two-factor authentication")
	return t.render(w, pageEnrollScan, p)
}

// EnrollRecoveryKeyPage is enrollment step 2: store the recovery key.
type EnrollRecoveryKeyPage struct {
	Page
	Action        string
	AuthRequestID string // hidden field "auth_request"
	GroupedKey    string
	DownloadURL   string
	Error         string // the acknowledgement was missing
}

// EnrollRecoveryKey renders enrollment step 2 of 3. The page shows a secret:
// send Cache-Control: no-store.
func (t *Templates) EnrollRecoveryKey(w io.Writer, p EnrollRecoveryKeyPage) error {
	p.Page = p.Page.titled("Save your recovery key")
	return t.render(w, pageEnrollRecoveryKey, p)
}

// EnrollVerifyPage is enrollment step 3: confirm with a code.
type EnrollVerifyPage struct {
	Page
	Action        string
	AuthRequestID string // hidden field "auth_request"
	Name          string // the app's name as typed (kept after a wrong code)
	Error         string
	RestartURL    string
}

// EnrollVerify renders enrollment step 3 of 3.
func (t *Templates) EnrollVerify(w io.Writer, p EnrollVerifyPage) error {
	p.Page = p.Page.titled("Confirm your authenticator")
	return t.render(w, pageEnrollVerify, p)
}

// EnrollChoosePage is the first step of enrollment when there is a
// choice: a passkey or an authenticator app.
type EnrollChoosePage struct {
	Page
	Action        string
	AuthRequestID string
	OfferPasskey  bool
	OfferTOTP     bool
	PasskeyOnly   bool   // the app asked for the phishing-resistant level
	Chosen        string // the factor chosen before (Back), preselected
	AfterRecovery bool
	Error         string
	Later         Later
}

// Later is the way to put enrollment off before the tenant's deadline:
// a form posting to Action, with the days left. No Action, no button.
type Later struct {
	Action        string
	AuthRequestID string
	DaysLeft      int
	Deadline      string // the date, for the sentence above the button
}

// EnrollChoose renders the choice of second factor.
func (t *Templates) EnrollChoose(w io.Writer, p EnrollChoosePage) error {
	p.Page = p.Page.titled("Choose your second factor")
	return t.render(w, pageEnrollChoose, p)
}

// WebAuthnForm is a WebAuthn ceremony on a page: the options the script
// hands to the browser and the form that posts its answer.
type WebAuthnForm struct {
	Action        string
	AuthRequestID string
	Options       template.JS // JSON from encoding/json, which escapes <, > and &
	Purpose       string      // "register" or "login"
	Button        string
	NameField     bool
	Name          string
	Error         string
	Secondary     bool // a secondary button (beside the password form)
}

// PasskeyChallengePage asks for a passkey after the password.
type PasskeyChallengePage struct {
	Page
	WebAuthnForm
	PasskeyRequired bool   // the app asked for the phishing-resistant level
	ThenNote        string // the passkey only confirms the user, who then sets up an app
	CodeURL         string // "Use your authenticator app instead"; "" when there is none
	RecoveryURL     string
}

// PasskeyChallenge renders the passkey step.
func (t *Templates) PasskeyChallenge(w io.Writer, p PasskeyChallengePage) error {
	p.Page = p.Page.titled("Use your passkey")
	return t.render(w, pagePasskeyChallenge, p)
}

// EnrollPasskeyPage creates a passkey: enrollment's confirming step, or
// adding one from the account page.
type EnrollPasskeyPage struct {
	Page
	WebAuthnForm
	Step      int    // 3 during enrollment, 0 when adding beside other factors
	Intro     string // a sentence above the form, when adding in a sign-in
	ChooseURL string // back to the choice of factor, during enrollment
	CancelURL string // back to the account page, when adding
}

// EnrollPasskey renders the passkey registration.
func (t *Templates) EnrollPasskey(w io.Writer, p EnrollPasskeyPage) error {
	p.Page = p.Page.titled("Create your passkey")
	return t.render(w, pageEnrollPasskey, p)
}

// SessionRow is one of the user's sessions on the account page.
type SessionRow struct {
	ID            string // also posted as hidden field "session"
	Device        string
	IP            string
	Started       string
	LastActive    string
	Current       bool
	TFA           bool   // session was verified with a second factor
	SignOutAction string // per-row POST URL; no button when empty
}

// Account form identifiers for AccountPage.ErrorFor.
const (
	FormDeactivate     = "deactivate"
	FormNewRecoveryKey = "recovery_key"
	FormPassword       = "password"
)

// FactorRow is one second factor on the account page.
type FactorRow struct {
	Kind     string // "Authenticator app", "Passkey or security key", "Passkey (synced)"
	Name     string
	Added    string
	LastUsed string
	Value    string // posted as "factor" to remove it
}

// AccountPage is the user's own account page.
type AccountPage struct {
	Page
	Factors              []FactorRow
	HasTOTP              bool // the code fields apply; without the app, a fresh session does
	Fresh                bool // the session passed its second factor a moment ago
	LastFactorLocked     bool // the tenant requires 2FA and one factor is left
	VerifyAction         string
	AddPasskeyAction     string // "" when passkeys are not available
	RemoveFactorAction   string
	Email                string
	Name                 string
	TenantName           string
	TFAActive            bool
	TenantRequiresTFA    bool
	Notice               string // success message (role="status")
	Error                string // error message (role="alert")
	ErrorFor             string // optional: FormDeactivate, FormNewRecoveryKey or FormPassword; marks that form's inputs invalid
	ActivateURL          string
	DeactivateAction     string
	NewRecoveryKeyAction string
	Sessions             []SessionRow
	SignOutOthersAction  string
	PasswordAction       string
	// PasswordMinLength is the shortest new password accepted (the rules
	// are shown before the first attempt); 0 shows no length.
	PasswordMinLength int
}

// Account renders the account page.
func (t *Templates) Account(w io.Writer, p AccountPage) error {
	p.Page = p.Page.titled("Your account")
	return t.render(w, pageAccount, p)
}

// RecoveryKeyIssuedPage shows a freshly generated recovery key.
type RecoveryKeyIssuedPage struct {
	Page
	GroupedKey  string
	DownloadURL template.URL // may be a data: URL holding the key as text
	ContinueURL string
}

// RecoveryKeyIssued renders the new recovery key. The page shows a secret:
// send Cache-Control: no-store.
func (t *Templates) RecoveryKeyIssued(w io.Writer, p RecoveryKeyIssuedPage) error {
	p.Page = p.Page.titled("Your new recovery key")
	return t.render(w, pageRecoveryKeyIssued, p)
}

// DemoHomePage is the demo relying app's start page.
type DemoHomePage struct {
	Page
	LoginURL string
	Notice   string // why the last sign-in ended, if the app knows
}

// DemoHome renders the demo app's start page.
func (t *Templates) DemoHome(w io.Writer, p DemoHomePage) error {
	p.Page = p.Page.titled("Demo app")
	return t.render(w, pageDemoHome, p)
}

// DemoClaimsPage shows the demo app's view of the signed-in user.
type DemoClaimsPage struct {
	Page
	Name, Email string // who is signed in
	SignedInAt  string // time of day
	ClaimsJSON  string // pretty-printed
	LogoutURL   string
}

// DemoClaims renders the ID token claims the demo app received.
func (t *Templates) DemoClaims(w io.Writer, p DemoClaimsPage) error {
	p.Page = p.Page.titled("Signed in")
	return t.render(w, pageDemoClaims, p)
}

// Admin form identifiers for AdminPage.ErrorFor.
const (
	AdminFormRequireTFA  = "require_tfa"  // the Require TFA form (no option chosen)
	AdminFormEnrollFirst = "enroll_first" // turning Require TFA on without 2FA of one's own
	AdminFormFactors     = "second_factors"
	AdminFormDeadline    = "enrollment_deadline"
	AdminFormCreateUser  = "create_user" // the new user form (a bad or taken email)
)

// Second-factor states of AdminUserRow.MFA.
const (
	AdminMFAActive      = "active"
	AdminMFANotEnrolled = "not_enrolled"
	AdminMFALocked      = "locked"
)

// Outcomes of AdminLogoutRow.Outcome.
const (
	AdminLogoutDelivered = "delivered"
	AdminLogoutPending   = "pending"
	AdminLogoutFailed    = "failed"
)

// AdminUserRow is one user of the tenant on the admin page.
type AdminUserRow struct {
	ID            string
	Email         string
	Name          string
	Admin         bool
	Disabled      bool
	You           bool     // the signed-in admin
	MFA           string   // AdminMFAActive, AdminMFANotEnrolled or AdminMFALocked
	Factors       string   // "App · 2 passkeys"; "" when none
	LockedUntil   string   // when MFA is AdminMFALocked
	PasswordLocks []string // one note per address password entry is locked for
	LastSignIn    string   // empty: never signed in
	LastSignInISO string   // machine-readable LastSignIn for <time datetime>
	AuditURL      string   // the audit log filtered to this user
	ResetURL      string   // the confirmation page of "Reset 2FA"; no link when empty
	EndAction     string   // POST URL of "End sessions"; no form when empty
	UnlockAction  string   // POST URL of "Clear locks"; no form when empty
	// User management; each empty for the signed-in admin's own row.
	PasswordAction string // POST URL of "Reset password" (shows a one-time link)
	DisableURL     string // the confirmation page of "Disable"
	EnableAction   string // POST URL of "Enable", for a disabled user
	DeleteURL      string // the confirmation page of "Delete"
}

// AdminOption is one choice of an audit filter <select>.
type AdminOption struct {
	Value    string
	Label    string
	Selected bool
}

// AdminAuditRow is one audit event.
type AdminAuditRow struct {
	Time    string
	TimeISO string
	Event   string // the event name, e.g. tenant.require_tfa
	Label   string // what it means, e.g. "Require TFA changed"
	Actor   string // who did it, when not the subject themselves; may be empty
	Subject string // whom it concerned (a user, or the organisation)
	Details string
	IP      string
}

// AdminLogoutRow is one back-channel logout delivery.
type AdminLogoutRow struct {
	Time      string
	TimeISO   string
	App       string
	User      string
	Outcome   string // AdminLogoutDelivered, AdminLogoutPending or AdminLogoutFailed
	Attempts  int
	When      string // delivered at, failed at, or next attempt
	LastError string
}

// AdminPage is the tenant admin page: the Require TFA policy, the users
// and their second factor, the audit log and back-channel logouts.
type AdminPage struct {
	Page
	TenantName       string
	RequireTFA       bool
	AdminTFAActive   bool   // the signed-in admin has an active authenticator
	EnrollURL        string // where the admin sets up their own 2FA (the account page)
	RequireTFAAction string // POST URL of the policy form
	// The second-factor policy: allowed factors ("any", "totp",
	// "webauthn"), the enrollment deadline (YYYY-MM-DD, "" for none) and
	// passwordless sign-in, with their forms' POST URLs.
	SecondFactors      string
	Deadline           string
	Passwordless       bool
	PasskeysAvailable  bool // the issuer is reached by a domain name
	FactorsAction      string
	DeadlineAction     string
	PasswordlessAction string
	Notice             string // success message (role="status")
	Error              string // error message (role="alert")
	ErrorFor           string // optional: AdminFormRequireTFA or AdminFormEnrollFirst
	UserCount          int
	ActiveCount        int // users with an active authenticator
	ToEnrollCount      int // users (not disabled) without one
	LockedCount        int
	Users              []AdminUserRow
	// The new user form: its POST URL and, after an error, what was typed.
	CreateUserAction string
	CreateEmail      string
	CreateName       string
	CreateAdmin      bool
	// The users list: search (GET to the page itself), what is shown and
	// the pages before and after ("" when there is none).
	UserSearchAction string
	UserSearch       string
	UsersShown       string // "Users 1–50 of 230"
	UsersPrevURL     string
	UsersNextURL     string
	AuditAction      string // GET URL of the audit filter (the page itself)
	AuditUsers       []AdminOption
	AuditEvents      []AdminOption
	AuditFiltered    bool // a filter is applied
	AuditClearURL    string
	Audit            []AdminAuditRow
	AuditNewerURL    string // the newer events; "" on the newest page
	AuditOlderURL    string // the older events; "" on the oldest page
	AuditCSVURL      string // the filtered log as CSV
	AuditJSONURL     string // the filtered log as JSON lines
	Logouts          []AdminLogoutRow
}

// Admin renders the tenant admin page.
func (t *Templates) Admin(w io.Writer, p AdminPage) error {
	p.Page = p.Page.titled("Administration")
	return t.render(w, pageAdmin, p)
}

// SetPasswordPage is the page of a one-time set-password link: the form
// (State ""), the confirmation that the password is set ("done"), or why
// the link cannot be used ("invalid": Heading and Message).
type SetPasswordPage struct {
	Page
	State     string
	Action    string // form POST URL
	Token     string // hidden field "token"
	Email     string // the account, also a hidden username for password managers
	NewUser   bool   // the link of a new account, not a reset
	Expires   string // when the link ends
	MinLength int
	MaxLength int
	Error     string
	Heading   string
	Message   string
	SignInURL string
}

// Set-password page states.
const (
	SetPasswordDone    = "done"
	SetPasswordInvalid = "invalid"
)

// SetPassword renders the set-password page. The form carries the link's
// token: send Cache-Control: no-store and Referrer-Policy: no-referrer.
func (t *Templates) SetPassword(w io.Writer, p SetPasswordPage) error {
	p.Page = p.Page.titled("Set your password")
	return t.render(w, pageSetPassword, p)
}

// AdminConfirmPage asks a tenant admin to confirm an action before it is
// done: what will happen, a button that posts Fields (and confirmed=yes)
// to Action, and Cancel.
type AdminConfirmPage struct {
	Page
	TenantName   string
	Heading      string   // "Reset 2FA for ada@example.com?"
	Consequences []string // what the action does, one sentence each
	Action       string   // POST URL
	Fields       []Param  // hidden fields besides confirmed=yes
	Button       string
	Danger       bool // the button is red
	CancelURL    string
}

// AdminConfirm renders a confirmation page.
func (t *Templates) AdminConfirm(w io.Writer, p AdminConfirmPage) error {
	p.Page = p.Page.titled("Confirm")
	return t.render(w, pageAdminConfirm, p)
}

// AdminLinkPage shows a one-time set-password link to the admin, once.
type AdminLinkPage struct {
	Page
	TenantName string
	Heading    string
	Lead       string
	Email      string
	Link       string
	Expires    string
	ExpiresISO string
	BackURL    string
}

// AdminLink renders the one-time link, with a Copy button whose script
// carries Page.CSPNonce. The page shows a secret: send Cache-Control:
// no-store.
func (t *Templates) AdminLink(w io.Writer, p AdminLinkPage) error {
	p.Page = p.Page.titled("One-time link")
	return t.render(w, pageAdminLink, p)
}
