package templates

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// pagesWithScript are the pages that run a script, each with the page's
// CSP nonce: the form-post page, the pages that show a key once (their
// Copy button), and the WebAuthn ceremonies (the login sample offers a
// passkey).
var pagesWithScript = map[string]bool{
	"form_post": true, "enroll_scan": true, "enroll_recovery_key": true, "recovery_key_issued": true,
	"passkey_challenge": true, "enroll_passkey": true, "login": true,
	"admin_link": true,
}

func mustLoad(t *testing.T) *Templates {
	t.Helper()
	tmpl, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func renderString(t *testing.T, render func(*bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestCopyButtons: the pages that show a key once offer a Copy button for
// it, inside a wrapper that stays hidden without scripts, and load the
// copy script with the page's nonce; the key stays text in the page.
func TestCopyButtons(t *testing.T) {
	tmpl := mustLoad(t)
	page := Page{CSPNonce: "n0nce"}
	for name, c := range map[string]struct {
		out           string
		target, whole string
	}{
		"enroll_scan": {renderString(t, func(b *bytes.Buffer) error {
			return tmpl.EnrollScan(b, EnrollScanPage{Page: page, GroupedSecret: "JBSW Y3DP EHPK 3PXP"})
		}), "totp-secret", "JBSW Y3DP EHPK 3PXP"},
		"enroll_recovery_key": {renderString(t, func(b *bytes.Buffer) error {
			return tmpl.EnrollRecoveryKey(b, EnrollRecoveryKeyPage{Page: page, GroupedKey: "ABCD-EFGH"})
		}), "recovery-key", "ABCD-EFGH"},
		"recovery_key_issued": {renderString(t, func(b *bytes.Buffer) error {
			return tmpl.RecoveryKeyIssued(b, RecoveryKeyIssuedPage{Page: page, GroupedKey: "ABCD-EFGH"})
		}), "recovery-key", "ABCD-EFGH"},
	} {
		t.Run(name, func(t *testing.T) {
			wrapper := regexp.MustCompile(`<(p|span) class="copy" data-copy="` + c.target + `"[^>]*>`).FindString(c.out)
			if wrapper == "" {
				t.Fatalf("no copy wrapper for #%s", c.target)
			}
			if !strings.HasSuffix(wrapper, " hidden>") {
				t.Errorf("copy wrapper is not hidden without scripts: %s", wrapper)
			}
			for _, want := range []string{
				`id="` + c.target + `"`, c.whole,
				`<button class="btn btn--secondary copy__btn" type="button">`, `<span class="copy__label">Copy</span>`,
				`<span class="copy__status" role="status" aria-live="polite"></span>`,
				`<script src="/static/copy.js" nonce="n0nce" defer></script>`,
			} {
				if !strings.Contains(c.out, want) {
					t.Errorf("missing %q", want)
				}
			}
		})
	}
}

// TestNavHeader: /account and /admin share a header with links to each
// other (Admin only for admins), the current page marked, and Sign out as
// a form posting the current session; other pages have none.
func TestNavHeader(t *testing.T) {
	tmpl := mustLoad(t)
	nav := func(n *Nav) Page { return Page{SignedInAs: "ada@example.com", Nav: n} }
	signOut := `<form class="site-user__signout" method="post" action="/account/sessions/end">
        <input type="hidden" name="session" value="s-1">
        <button class="btn btn--secondary btn--small" type="submit">Sign out</button>`

	user := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.Account(b, AccountPage{Page: nav(&Nav{Current: NavAccount, SignOutAction: "/account/sessions/end", SessionID: "s-1"})})
	})
	for _, want := range []string{`<nav class="site-nav" aria-label="Your pages">`, `href="/account" aria-current="page">Account</a>`, signOut,
		`<span class="whoami__email">ada@example.com</span>`} {
		if !strings.Contains(user, want) {
			t.Errorf("account page of a user lacks %q", want)
		}
	}
	if strings.Contains(user, `href="/admin"`) {
		t.Error("the header links a user who is no admin to /admin")
	}

	adminOnAccount := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.Account(b, AccountPage{Page: nav(&Nav{Current: NavAccount, Admin: true, SignOutAction: "/account/sessions/end", SessionID: "s-1"})})
	})
	if !strings.Contains(adminOnAccount, `<a class="site-nav__link" href="/admin">Admin</a>`) {
		t.Error("the account page of an admin does not link to /admin (unmarked)")
	}

	admin := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.Admin(b, AdminPage{Page: nav(&Nav{Current: NavAdmin, Admin: true, SignOutAction: "/account/sessions/end", SessionID: "s-1"})})
	})
	for _, want := range []string{`<a class="site-nav__link" href="/account">Account</a>`, `href="/admin" aria-current="page">Admin</a>`, signOut} {
		if !strings.Contains(admin, want) {
			t.Errorf("admin page lacks %q", want)
		}
	}
	if strings.Count(admin, `aria-current`) != 1 {
		t.Errorf("admin page marks %d links as current, want 1", strings.Count(admin, `aria-current`))
	}

	plain := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.RecoveryKeyIssued(b, RecoveryKeyIssuedPage{Page: Page{SignedInAs: "ada@example.com"}})
	})
	if strings.Contains(plain, `site-nav`) || !strings.Contains(plain, `Signed in as`) {
		t.Error("a page without Nav shows the nav, or lost who is signed in")
	}
}

// TestErrorPageWayBack: an error page shows its way back as a link, and
// none when it has none.
func TestErrorPageWayBack(t *testing.T) {
	tmpl := mustLoad(t)
	with := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.Error(b, ErrorPage{Status: 401, Heading: "You are signed out", BackURL: "/account?x=<b>", BackLabel: "Sign in again"})
	})
	if want := `<a class="btn btn--primary btn--block" href="/account?x=%3cb%3e">Sign in again</a>`; !strings.Contains(with, want) {
		t.Errorf("error page lacks %s", want)
	}
	without := renderString(t, func(b *bytes.Buffer) error { return tmpl.Error(b, ErrorPage{Heading: "Oops"}) })
	if strings.Contains(without, "error__back") {
		t.Error("error page without a way back shows one")
	}
}

// TestPasswordRulesBeforeFirstAttempt: the account page states the rules
// of a new password under its field on first render, with no error, and
// the field is described by them.
func TestPasswordRulesBeforeFirstAttempt(t *testing.T) {
	tmpl := mustLoad(t)
	out := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.Account(b, AccountPage{Email: "ada@example.com", PasswordAction: "/account/password", PasswordMinLength: 12})
	})
	for _, want := range []string{
		`name="new_password" type="password" autocomplete="new-password" required minlength="12" aria-describedby="new_password-hint">`,
		`<ul class="hint hint--rules" id="new_password-hint">`, `<li>At least 12 characters.</li>`,
		`<li>Different from your current password.</li>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if strings.Contains(out, `role="alert"`) {
		t.Error("first render shows an error")
	}
}

// TestFormsKeepWhatWasTyped: after an error, the sign-in form keeps the
// email and never the password; the account page's password form echoes
// neither password nor code.
func TestFormsKeepWhatWasTyped(t *testing.T) {
	tmpl := mustLoad(t)
	login := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.Login(b, LoginPage{Action: "/login", Email: "ada@example.com", Error: "Wrong email or password."})
	})
	if !strings.Contains(login, `value="ada@example.com"`) {
		t.Error("the sign-in form lost the email after an error")
	}
	password := regexp.MustCompile(`<input[^>]*name="password"[^>]*>`).FindString(login)
	if password == "" || strings.Contains(password, "value=") {
		t.Errorf("password field echoes a value: %s", password)
	}
	account := renderString(t, func(b *bytes.Buffer) error {
		return tmpl.Account(b, AccountPage{Email: "ada@example.com", TFAActive: true, Error: "Your current password or the code is not correct.", ErrorFor: FormPassword})
	})
	for _, field := range regexp.MustCompile(`<input[^>]*name="(current_password|new_password|code)"[^>]*>`).FindAllString(account, -1) {
		if strings.Contains(field, "value=") {
			t.Errorf("the account page echoes a secret: %s", field)
		}
	}
}
