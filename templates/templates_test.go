package templates

import (
	"bytes"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

const hostile = `<script>alert("x")</script>`

// samplePages renders every page with sample data. The map key names the
// page; the function renders it.
func samplePages(t *Templates) map[string]func(io.Writer) error {
	page := Page{RequestID: "req-123", CSPNonce: "nonce-abc", SignedInAs: "ada@example.com"}
	return map[string]func(io.Writer) error{
		"home": func(w io.Writer) error {
			return t.Home(w, HomePage{Page: page, Email: hostile, Admin: true})
		},
		"failed_codes": func(w io.Writer) error {
			return t.FailedCodes(w, FailedCodesPage{Page: page, Count: 3, ContinueURL: "/oauth2/auth/resume?auth_request=ar-1&x=" + hostile})
		},
		"login": func(w io.Writer) error {
			return t.Login(w, LoginPage{Page: Page{RequestID: "req-123", CSPNonce: "nonce-abc"}, Action: "/login", AuthRequestID: "ar-1", Email: "ada@example.com", ClientName: hostile, Error: "Wrong email or password.",
				Passkey: &WebAuthnForm{Action: "/login/passwordless", AuthRequestID: "ar-1", Options: `{"publicKey":{}}`, Purpose: "passwordless", Button: "Sign in with a passkey"}})
		},
		"consent": func(w io.Writer) error {
			return t.Consent(w, ConsentPage{Page: page, Action: "/consent", AuthRequestID: "ar-1", ClientName: hostile, Scopes: []ScopeItem{
				{Name: "openid", Description: "Confirm who you are"},
				{Name: "email", Description: "See your email address"},
			}})
		},
		"error": func(w io.Writer) error {
			return t.Error(w, ErrorPage{Page: page, Status: 400, Heading: "This link has expired", Message: "Go back to the app and sign in again."})
		},
		"form_post": func(w io.Writer) error {
			return t.FormPost(w, FormPostPage{Page: page, RedirectURI: "https://app.example.com/cb", Params: []Param{{Name: "code", Value: "c0de"}, {Name: "state", Value: `"><x`}}})
		},
		"logout_confirm": func(w io.Writer) error {
			return t.LogoutConfirm(w, LogoutConfirmPage{Page: page, Action: "/logout", LogoutRequestID: "lr-1", ClientName: hostile})
		},
		"signed_out": func(w io.Writer) error {
			return t.SignedOut(w, SignedOutPage{Page: Page{RequestID: "req-123"}, ReturnURL: "https://app.example.com/"})
		},
		"totp_challenge": func(w io.Writer) error {
			signingIn := Page{RequestID: "req-123", SigningInAs: "ada@example.com", ForApp: hostile, StartOverURL: "/oauth2/auth?client_id=c&x=" + hostile}
			return t.TOTPChallenge(w, TOTPChallengePage{Page: signingIn, Action: "/login/totp", AuthRequestID: "ar-1", Error: "That code is not right.", RecoveryURL: "/login/recovery"})
		},
		"recovery_challenge": func(w io.Writer) error {
			return t.RecoveryKeyChallenge(w, RecoveryPage{Page: page, Action: "/login/recovery", AuthRequestID: "ar-1", Error: "That key is not right.", BackURL: "/login/totp"})
		},
		"enroll_scan": func(w io.Writer) error {
			return t.EnrollScan(w, EnrollScanPage{Page: page, Action: "/enroll/scan", AuthRequestID: "ar-1", AfterRecovery: true,
				QRCodeDataURL: template.URL("data:image/png;base64,iVBORw0KGgo="), GroupedSecret: "JBSW Y3DP EHPK 3PXP",
				OTPAuthURL:  template.URL("otpauth://totp/Portcullis:ada@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Portcullis"),
				AccountName: "ada@example.com", Issuer: "Portcullis"})
		},
		"enroll_recovery_key": func(w io.Writer) error {
			return t.EnrollRecoveryKey(w, EnrollRecoveryKeyPage{Page: page, Action: "/enroll/key", AuthRequestID: "ar-1", GroupedKey: "ABCD EFGH", DownloadURL: "/enroll/key.txt"})
		},
		"enroll_verify": func(w io.Writer) error {
			return t.EnrollVerify(w, EnrollVerifyPage{Page: page, Action: "/enroll/verify", AuthRequestID: "ar-1", Error: "That code is not right.", RestartURL: "/enroll/restart"})
		},
		"account": func(w io.Writer) error {
			return t.Account(w, AccountPage{Page: page, Email: "ada@example.com", Name: "Ada", TenantName: "Acme",
				TFAActive: true, Error: "That code is not right.", ErrorFor: FormPassword, HasTOTP: true, Fresh: true,
				Factors: []FactorRow{
					{Kind: "Authenticator app", Name: "Authenticator app", Added: "today", LastUsed: "now", Value: "totp"},
					{Kind: "Passkey or security key", Name: hostile, Added: "today", LastUsed: "Never", Value: "cred-1"},
				},
				RemoveFactorAction: "/account/factors/remove", AddPasskeyAction: "/account/passkeys/add", VerifyAction: "/account/verify",
				DeactivateAction: "/account/2fa/deactivate", NewRecoveryKeyAction: "/account/2fa/recovery-key",
				Sessions: []SessionRow{
					{ID: "s1", Device: "Firefox on Linux", IP: "192.0.2.1", Started: "today", LastActive: "now", Current: true, TFA: true, SignOutAction: "/account/sessions/s1/sign-out"},
					{ID: "s2", Device: hostile, IP: "192.0.2.2", Started: "yesterday", LastActive: "1 h ago", SignOutAction: "/account/sessions/s2/sign-out"},
				},
				SignOutOthersAction: "/account/sessions/sign-out-others", PasswordAction: "/account/password"})
		},
		"enroll_choose": func(w io.Writer) error {
			return t.EnrollChoose(w, EnrollChoosePage{Page: page, Action: "/enroll/choose", AuthRequestID: "ar-1",
				OfferPasskey: true, OfferTOTP: true, Chosen: "webauthn", AfterRecovery: true, Error: "Choose one.",
				Later: Later{Action: "/enroll/later", AuthRequestID: "ar-1", DaysLeft: 3, Deadline: "1 Feb 2027"}})
		},
		"passkey_challenge": func(w io.Writer) error {
			return t.PasskeyChallenge(w, PasskeyChallengePage{Page: page,
				WebAuthnForm: WebAuthnForm{Action: "/login/passkey", AuthRequestID: "ar-1", Options: `{"publicKey":{"challenge":"\u003c/script\u003e"}}`,
					Purpose: "login", Button: "Use passkey", Error: "No."},
				CodeURL: "/login/code?auth_request=ar-1&use=code", RecoveryURL: "/login/recovery?auth_request=ar-1"})
		},
		"enroll_passkey": func(w io.Writer) error {
			return t.EnrollPasskey(w, EnrollPasskeyPage{Page: page,
				WebAuthnForm: WebAuthnForm{Action: "/enroll/verify", AuthRequestID: "ar-1", Options: `{"publicKey":{}}`,
					Purpose: "register", Button: "Create passkey", NameField: true, Name: hostile},
				Step: 3, ChooseURL: "/enroll?auth_request=ar-1&choose=1"})
		},
		"recovery_key_issued": func(w io.Writer) error {
			return t.RecoveryKeyIssued(w, RecoveryKeyIssuedPage{Page: page, GroupedKey: "ABCD EFGH", DownloadURL: "/account/recovery-key.txt", ContinueURL: "/account"})
		},
		"demo_home": func(w io.Writer) error {
			return t.DemoHome(w, DemoHomePage{Page: Page{}, LoginURL: "/login"})
		},
		"demo_claims": func(w io.Writer) error {
			return t.DemoClaims(w, DemoClaimsPage{Page: page, ClaimsJSON: "{\n  \"sub\": \"<b>\"\n}", LogoutURL: "/logout"})
		},
		"admin": func(w io.Writer) error {
			return t.Admin(w, AdminPage{Page: page, TenantName: hostile, AdminTFAActive: true, EnrollURL: "/account",
				RequireTFAAction: "/admin/require-tfa", Error: "Choose an option.", ErrorFor: AdminFormRequireTFA,
				UserCount: 3, ActiveCount: 1, ToEnrollCount: 2, LockedCount: 1,
				Users: []AdminUserRow{
					{ID: "u1", Email: "ada@example.com", Name: "Ada", Admin: true, You: true, MFA: AdminMFAActive, LastSignIn: "today", LastSignInISO: "2025-01-02T03:04:05Z", AuditURL: "/admin?user=u1#audit"},
					{ID: "u2", Email: hostile, MFA: AdminMFALocked, LockedUntil: "soon", AuditURL: "/admin?user=u2#audit",
						ResetURL: "/admin/users/u2/reset-2fa", EndAction: "/admin/users/u2/end-sessions",
						PasswordAction: "/admin/users/u2/reset-password", DisableURL: "/admin/users/u2/disable", DeleteURL: "/admin/users/u2/delete"},
					{ID: "u3", Email: "old@example.com", Disabled: true, MFA: AdminMFANotEnrolled, AuditURL: "/admin?user=u3#audit",
						EnableAction: "/admin/users/u3/enable", DeleteURL: "/admin/users/u3/delete"},
				},
				CreateUserAction: "/admin/users", CreateEmail: hostile, CreateName: hostile, CreateAdmin: true,
				UserSearchAction: "/admin", UserSearch: hostile, UsersShown: "Users 1–3 of 3", UsersNextURL: "/admin?upage=2#users",
				AuditNewerURL: "/admin?after=1-2#audit", AuditOlderURL: "/admin?before=1-1#audit",
				AuditCSVURL: "/admin/audit/export?format=csv", AuditJSONURL: "/admin/audit/export?format=jsonl",
				AuditAction: "/admin", AuditFiltered: true, AuditClearURL: "/admin#audit",
				AuditUsers:  []AdminOption{{Value: "u2", Label: hostile, Selected: true}},
				AuditEvents: []AdminOption{{Value: "tenant.require_tfa", Label: "Require TFA changed"}},
				Audit: []AdminAuditRow{{Time: "today", TimeISO: "2025-01-02T03:04:05Z", Event: "tenant.require_tfa", Label: "Require TFA changed",
					Actor: "ada@example.com", Subject: "Organisation", Details: hostile, IP: "192.0.2.1"}},
				Logouts: []AdminLogoutRow{
					{Time: "today", App: hostile, User: "ada@example.com", Outcome: AdminLogoutFailed, Attempts: 5, When: "gave up", LastError: hostile},
					{Time: "today", App: "Wiki", User: "ada@example.com", Outcome: AdminLogoutDelivered},
				}})
		},
		"set_password": func(w io.Writer) error {
			return t.SetPassword(w, SetPasswordPage{Page: page, Action: "/set-password", Token: hostile, Email: hostile, NewUser: true,
				Expires: "5 Dec 2026, 20:00 UTC", MinLength: 12, MaxLength: 1024, Error: "The two passwords differ.", SignInURL: "/account"})
		},
		"admin_confirm": func(w io.Writer) error {
			return t.AdminConfirm(w, AdminConfirmPage{Page: page, TenantName: hostile, Heading: "Delete " + hostile + "?",
				Consequences: []string{hostile}, Action: "/admin/users/u2/delete", Fields: []Param{{Name: "x", Value: hostile}},
				Button: "Delete user", Danger: true, CancelURL: "/admin#users"})
		},
		"admin_link": func(w io.Writer) error {
			return t.AdminLink(w, AdminLinkPage{Page: page, TenantName: hostile, Heading: "User created", Lead: hostile, Email: hostile,
				Link: "https://id.example.com/set-password?token=abc", Expires: "soon", ExpiresISO: "2025-01-02T03:04:05Z", BackURL: "/admin#users"})
		},
	}
}

// wantIn lists, per page, strings the rendered output must contain.
var wantIn = map[string][]string{
	"login": {
		`action="/login"`, `name="auth_request" value="ar-1"`,
		`name="email" type="email" autocomplete="username webauthn"`, `value="ada@example.com"`,
		`<p class="divider"><span>or</span></p>`, `data-purpose="passwordless"`, `action="/login/passwordless"`,
		`<script nonce="nonce-abc" src="/static/webauthn.js"></script>`,
		`name="password" type="password" autocomplete="current-password" required autofocus`,
		`role="alert"`, `aria-invalid="true"`, `aria-describedby="login-error"`,
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `>Sign in</button>`, `<label for="email">`, `<label for="password">`,
	},
	"consent": {
		`name="auth_request" value="ar-1"`, `name="decision" value="allow">Allow<`, `name="decision" value="deny">Deny<`,
		`See your email address`, `&lt;script&gt;`,
	},
	"error": {`Error 400`, `This link has expired`, `Reference: <code>req-123</code>`},
	"form_post": {
		`<form class="form form--last" id="form-post" method="post" action="https://app.example.com/cb">`,
		`<input type="hidden" name="code" value="c0de">`, `value="&#34;&gt;&lt;x"`,
		`<script nonce="nonce-abc">`, `<noscript>`, `>Continue</button>`,
	},
	"logout_confirm": {
		`Sign out of Portcullis?`, `name="logout_request" value="lr-1"`,
		`name="decision" value="yes">Sign out<`, `name="decision" value="no">Stay signed in<`, `&lt;script&gt;`,
	},
	"signed_out": {`href="https://app.example.com/"`},
	"home":       {`&lt;script&gt;`, `href="/account">Your account</a>`, `href="/admin">Administration</a>`},
	"totp_challenge": {
		`name="auth_request" value="ar-1"`,
		`name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus`,
		`aria-describedby="code-hint code-error" aria-invalid="true"`, `role="alert"`,
		`href="/login/recovery">Lost your device? Use your recovery key</a>`,
		`Signing in to <span class="whoami__app">&lt;script&gt;`, `<span class="whoami__email">ada@example.com</span>`,
		`>Not you? Start over</a>`,
	},
	"recovery_challenge": {
		`name="auth_request" value="ar-1"`, `name="recovery_key"`, `autocomplete="off"`, `spellcheck="false"`,
		`autocapitalize="characters"`, `aria-invalid="true"`, `Spaces, dashes`, `href="/login/totp"`,
	},
	"enroll_scan": {
		`Step 1 of 3`, `src="data:image/png;base64,iVBORw0KGgo="`, `alt="QR code`, `JBSW Y3DP EHPK 3PXP`,
		`href="otpauth://totp/Portcullis:ada@example.com?secret=JBSWY3DPEHPK3PXP&amp;issuer=Portcullis">Open in authenticator app</a>`,
		`name="auth_request" value="ar-1"`, `>Continue</button>`,
		`id="after-recovery"`, `Your old authenticator was removed`,
	},
	"enroll_recovery_key": {
		`Step 2 of 3`, `ABCD EFGH`, `href="/enroll/key.txt"`, `Download as text file`,
		`name="stored" type="checkbox" value="yes" required`, `I have stored my recovery key`, `name="auth_request" value="ar-1"`,
	},
	"enroll_verify": {
		`Step 3 of 3`, `name="auth_request" value="ar-1"`,
		`name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus`,
		`role="alert"`, `href="/enroll/restart">Start over</a>`,
	},
	"account": {
		`Two-factor authentication`, `action="/account/2fa/deactivate"`, `Deactivate 2FA`, `action="/account/2fa/recovery-key"`,
		`Create a new recovery key`, `action="/account/sessions/s2/sign-out"`, `name="session" value="s2"`,
		`action="/account/sessions/sign-out-others"`, `Sign out everywhere else`, `This device`,
		`name="current_password" type="password" autocomplete="current-password"`,
		`name="new_password" type="password" autocomplete="new-password"`,
		`id="password-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"`,
		`aria-describedby="password-code-hint account-error" aria-invalid="true"`, `&lt;script&gt;`,
		`action="/account/factors/remove"`, `name="factor" value="cred-1"`, `action="/account/passkeys/add"`, `Add a passkey or security key`,
	},
	"enroll_choose": {
		`action="/enroll/choose"`, `name="factor" value="webauthn" required checked`, `name="factor" value="totp" required>`,
		`Passkey or security key`, `Authenticator app`, `aria-describedby="factor-error"`, `You used your recovery key`,
		`Set up now`, `action="/enroll/later"`, `Later (3 days left)`, `from 1 Feb 2027`,
	},
	"passkey_challenge": {
		`<script type="application/json" id="webauthn-options" nonce="nonce-abc">{"publicKey":{"challenge":"\u003c/script\u003e"}}</script>`,
		`id="webauthn-form" data-purpose="login"`, `name="credential" id="webauthn-credential"`, `disabled>Use passkey</button>`,
		`<script nonce="nonce-abc" src="/static/webauthn.js"></script>`, `<noscript>`,
		`Use your authenticator app instead`, `Use your recovery key`,
	},
	"enroll_passkey": {
		`Step 3 of 3`, `data-purpose="register"`, `id="passkey-name" name="name" type="text" maxlength="64" required autocomplete="off" value="&lt;script&gt;`,
		`Choose another second factor`, `<script nonce="nonce-abc" src="/static/webauthn.js"></script>`,
	},
	"recovery_key_issued": {`ABCD EFGH`, `href="/account/recovery-key.txt"`, `href="/account"`},
	"demo_home":           {`Portcullis demo app`, `href="/login"`},
	"demo_claims":         {`<pre`, `&#34;sub&#34;: &#34;&lt;b&gt;&#34;`, `<form method="post" action="/logout">`, `Sign out`},
	"admin": {
		`<form class="form" method="post" action="/admin/require-tfa">`, `name="require_tfa" value="on"`,
		`type="radio" id="sessions-clear" name="sessions" value="clear" required`, `Clear all user sessions`,
		`type="radio" id="sessions-keep" name="sessions" value="keep" required`, `Allow user sessions to stay logged in`,
		`<label class="choice" for="sessions-clear">`, `aria-describedby="admin-error"`, `role="alert"`,
		`href="/admin/users/u2/reset-2fa"`, `action="/admin/users/u2/end-sessions"`, `Locked out`, `until soon`,
		`action="/admin/users/u2/reset-password"`, `href="/admin/users/u2/disable"`, `href="/admin/users/u3/delete"`,
		`action="/admin/users/u3/enable"`, `<form class="form admin-create" method="post" action="/admin/users">`,
		`id="new-email" name="email" type="email"`, `name="admin" value="yes" checked`,
		`role="search" aria-label="Search users"`, `Users 1–3 of 3`, `href="/admin?upage=2#users"`,
		`href="/admin?before=1-1#audit"`, `href="/admin/audit/export?format=csv"`, `href="/admin/audit/export?format=jsonl"`,
		`<label for="audit-user">`, `<label for="audit-event">`, `method="get" action="/admin#audit" role="search"`,
		`<option value="u2" selected>&lt;script&gt;`, `href="/admin#audit">Clear filters</a>`,
		`<time datetime="2025-01-02T03:04:05Z">`, `Require TFA changed`, `Failed`, `Delivered`, `&lt;script&gt;`,
	},
}

func TestLoad(t *testing.T) {
	if _, err := Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestEveryPageRenders(t *testing.T) {
	tmpl, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	pages := samplePages(tmpl)
	if len(pages) != len(requiredPages) {
		t.Fatalf("samplePages covers %d pages, want %d", len(pages), len(requiredPages))
	}
	for name, render := range pages {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := render(&buf); err != nil {
				t.Fatalf("render: %v", err)
			}
			out := buf.String()
			for _, want := range []string{
				"<!doctype html>", `<html lang="en">`,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				" · Portcullis</title>", `<link rel="stylesheet" href="/static/portcullis.css">`,
				"<header", "<main", "<footer",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q", want)
				}
			}
			for _, want := range wantIn[name] {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q", want)
				}
			}
			if n := strings.Count(out, "<h1"); n != 1 {
				t.Errorf("%d <h1> elements, want 1", n)
			}
			if strings.Contains(out, hostile) {
				t.Errorf("hostile input rendered unescaped")
			}
			if strings.Contains(out, "style=") || strings.Contains(out, "<style") {
				t.Errorf("page has inline style")
			}
			if got, want := strings.Contains(out, "<script"), pagesWithScript[name]; got != want {
				t.Errorf("contains <script = %v, want %v", got, want)
			}
			for _, rest := range strings.Split(out, "<script")[1:] {
				if tag, _, _ := strings.Cut(rest, ">"); !strings.Contains(tag, ` nonce="nonce-abc"`) {
					t.Errorf("script without the page's nonce: <script%s>", tag)
				}
			}
			if strings.Contains(out, "ZgotmplZ") {
				t.Errorf("a value was rejected by html/template:\n%s", out)
			}
			for _, rest := range strings.Split(out, "<form")[1:] {
				tag, _, _ := strings.Cut(rest, ">")
				// A GET form is allowed only as an explicit search (filters).
				if !strings.Contains(tag, `method="post"`) && !(strings.Contains(tag, `method="get"`) && strings.Contains(tag, `role="search"`)) {
					t.Errorf("form without method=\"post\": <form%s>", tag)
				}
			}
		})
	}
}

func TestDefaultTitle(t *testing.T) {
	tmpl, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tmpl.Login(&buf, LoginPage{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "<title>Sign in · Portcullis</title>") {
		t.Errorf("default title missing")
	}
	buf.Reset()
	if err := tmpl.Login(&buf, LoginPage{Page: Page{Title: "Welcome"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "<title>Welcome · Portcullis</title>") {
		t.Errorf("explicit title not used")
	}
}

func TestLoginWithoutErrorOrHint(t *testing.T) {
	tmpl, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tmpl.Login(&buf, LoginPage{Action: "/login", AuthRequestID: "ar-2"}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{`role="alert"`, `aria-invalid`, "Sign in to continue"} {
		if strings.Contains(out, bad) {
			t.Errorf("unexpected %q", bad)
		}
	}
	if !strings.Contains(out, `autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus`) {
		t.Errorf("email should have autofocus when there is no hint")
	}
}

func TestAccountPolicyVariants(t *testing.T) {
	tmpl, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	render := func(p AccountPage) string {
		t.Helper()
		var buf bytes.Buffer
		if err := tmpl.Account(&buf, p); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}

	required := render(AccountPage{Email: "a@example.com", TenantName: "Acme", TFAActive: true, TenantRequiresTFA: true, DeactivateAction: "/deactivate"})
	if strings.Contains(required, `action="/deactivate"`) {
		t.Errorf("deactivate form shown although the tenant requires 2FA")
	}
	if !strings.Contains(required, "requires two-factor authentication") {
		t.Errorf("no explanation that the tenant requires 2FA")
	}

	inactive := render(AccountPage{Email: "a@example.com", ActivateURL: "/enroll", DeactivateAction: "/deactivate", NewRecoveryKeyAction: "/newkey"})
	if !strings.Contains(inactive, `action="/enroll"`) || !strings.Contains(inactive, "Activate 2FA") {
		t.Errorf("activate link missing when 2FA is inactive")
	}
	for _, bad := range []string{`action="/deactivate"`, `action="/newkey"`, `name="code"`} {
		if strings.Contains(inactive, bad) {
			t.Errorf("inactive 2FA shows %q", bad)
		}
	}
}

func TestRenderErrorWritesNothing(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, name := range append([]string{layoutFile}, requiredPages...) {
		fsys[name] = &fstest.MapFile{Data: []byte(`{{define "content"}}<h1>ok</h1>{{end}}`)}
	}
	fsys[layoutFile] = &fstest.MapFile{Data: []byte(`{{define "layout"}}<p>before</p>{{template "content" .}}{{end}}`)}
	fsys[pageLogin] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{.NoSuchField}}{{end}}`)}
	tmpl, err := load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tmpl.Login(&buf, LoginPage{}); err == nil {
		t.Fatal("expected an execution error")
	}
	if buf.Len() != 0 {
		t.Errorf("half a page written on error: %q", buf.String())
	}
}

func TestLoadFailsWhenAPageIsMissing(t *testing.T) {
	for _, drop := range append([]string{layoutFile}, requiredPages...) {
		t.Run(drop, func(t *testing.T) {
			fsys := fstest.MapFS{}
			err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || path == drop {
					return err
				}
				data, err := fs.ReadFile(files, path)
				fsys[path] = &fstest.MapFile{Data: data}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := load(fsys); err == nil || !strings.Contains(err.Error(), drop) {
				t.Errorf("load without %s: err = %v, want an error naming it", drop, err)
			}
		})
	}
}

func TestLoadFailsWhenContentIsMissing(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, name := range append([]string{layoutFile}, requiredPages...) {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: data}
	}
	fsys[pageConsent] = &fstest.MapFile{Data: []byte(`<p>no define</p>`)}
	if _, err := load(fsys); err == nil || !strings.Contains(err.Error(), pageConsent) {
		t.Errorf("err = %v, want an error naming %s", err, pageConsent)
	}
}

func TestLoadFailsOnParseError(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, name := range append([]string{layoutFile}, requiredPages...) {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: data}
	}
	fsys[pageError] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{if}}{{end}}`)}
	if _, err := load(fsys); err == nil {
		t.Error("load accepted a page that does not parse")
	}
}

func TestStatic(t *testing.T) {
	for _, name := range []string{"portcullis.css", "favicon.svg", "copy.js"} {
		data, err := fs.ReadFile(Static(), name)
		if err != nil {
			t.Fatalf("Static: %v", err)
		}
		if len(data) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	if _, err := fs.Stat(Static(), "login.html"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Static exposes templates: %v", err)
	}
}
