package idp_test

import (
	"context"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// setClipboard grants or denies the pages of origin the clipboard.
func setClipboard(t *testing.T, ctx context.Context, origin string, setting cdpbrowser.PermissionSetting) {
	t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: setting, Origin: origin})
		must(t, err)
	}
}

// copyAndWait clicks the Copy button of the key in #target and waits for
// its label to say want ("Copied", or "Copy" again when the key was
// selected instead); it returns the status line.
func copyAndWait(t *testing.T, ctx context.Context, target, want string) string {
	t.Helper()
	box := `.copy[data-copy="` + target + `"]`
	must(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+box+` .copy__status').textContent = ''`),
		chromedp.Click(chromedp.CSS(box+` button`)),
	))
	pollTrue(t, ctx, `document.querySelector('`+box+` .copy__status').textContent !== '' && document.querySelector('`+box+` .copy__label').textContent === '`+want+`'`,
		"the Copy button of #"+target+" did not say "+want)
	return evaluate[string](t, ctx, `document.querySelector('`+box+` .copy__status').textContent`)
}

// blur takes the focus off the button a mouse click gave it: it shows
// its focus ring to the keyboard only (:focus-visible), which the page
// audit would report for a clicked button.
func blur(t *testing.T, ctx context.Context) {
	t.Helper()
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`)))
}

// TestCopyButtonsInBrowser: the setup key and the recovery key each have
// a Copy button that puts the key on the clipboard (the setup key without
// its spaces) and says "Copied"; where the clipboard is refused, the key
// is selected for the user to copy.
func TestCopyButtonsInBrowser(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	ctx := chromiumWithin(t, browserLimit)
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	must(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	setClipboard(t, ctx, e.issuer, cdpbrowser.PermissionSettingGranted)
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier()))))
	typePassword(t, ctx, "ada@example.com", testPassword)

	// Step 1: the setup key.
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.copy[data-copy="totp-secret"] button`))))
	secret := otpauthSecret(t, ctx)
	if status := copyAndWait(t, ctx, "totp-secret", "Copied"); status != "Setup key copied." {
		t.Errorf("status after copying the setup key: %q", status)
	}
	clip := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		must(t, err)
		return v
	}
	if got := clip(); got != string(secret) {
		t.Errorf("clipboard holds %q, want the setup key %q", got, secret)
	}
	if name := evaluate[string](t, ctx, `document.querySelector('.copy[data-copy="totp-secret"] button').textContent.replace(/\s+/g, ' ').trim()`); name != "Copied setup key" {
		t.Errorf("the button reads %q to a screen reader", name)
	}
	blur(t, ctx)
	capture(t, ctx, "enroll-scan-copied")

	// Step 2: the recovery key, as shown (with its dashes).
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.copy[data-copy="recovery-key"] button`)),
	))
	key := pageRecoveryKey(t, ctx)
	if status := copyAndWait(t, ctx, "recovery-key", "Copied"); status != "Recovery key copied." {
		t.Errorf("status after copying the recovery key: %q", status)
	}
	if got := clip(); got != key {
		t.Errorf("clipboard holds %q, want the recovery key %q", got, key)
	}
	blur(t, ctx)
	capture(t, ctx, "enroll-recovery-key-copied")

	// Without the clipboard, the key is selected instead.
	setClipboard(t, ctx, e.issuer, cdpbrowser.PermissionSettingDenied)
	if status := copyAndWait(t, ctx, "recovery-key", "Copy"); !strings.Contains(status, "selected") {
		t.Errorf("status when the clipboard is refused: %q", status)
	}
	if sel := evaluate[string](t, ctx, `window.getSelection().toString().trim()`); sel != key {
		t.Errorf("selection %q, want the recovery key %q", sel, key)
	}
}

// TestKeysWithoutScriptsInBrowser: with JavaScript off, the enrollment
// pages show their keys as text and no Copy button.
func TestKeysWithoutScriptsInBrowser(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	ctx := chromiumWithin(t, browserLimit)
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	must(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	must(t, err)
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier()))))
	typePassword(t, ctx, "ada@example.com", testPassword)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#totp-secret`))))
	noButton := func(target string) {
		t.Helper()
		if !evaluate[bool](t, ctx, `(() => { const b = document.querySelector('.copy[data-copy="`+target+`"]'); return b.hidden && b.getClientRects().length === 0 })()`) {
			t.Errorf("without scripts the Copy button of #%s is shown", target)
		}
	}
	noButton("totp-secret")
	secret := otpauthSecret(t, ctx)
	if shown := strings.TrimSpace(evaluate[string](t, ctx, `document.getElementById('totp-secret').textContent`)); shown != secret.Grouped() {
		t.Errorf("without scripts step 1 shows %q, want the key %q", shown, secret.Grouped())
	}
	capture(t, ctx, "enroll-scan-noscript")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-key`)),
	))
	noButton("recovery-key")
	if key := pageRecoveryKey(t, ctx); len(key) < 64 {
		t.Errorf("without scripts step 2 shows %q", key)
	}
	capture(t, ctx, "enroll-recovery-key-noscript")
}

// TestSharedHeaderInBrowser: an admin moves between /admin and /account
// through the shared header, which marks where they are, and signs out
// from it; error pages lead back.
func TestSharedHeaderInBrowser(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	ctx := chromiumWithin(t, browserLimit)
	e.newAdmin(t)
	current := func() string {
		t.Helper()
		return evaluate[string](t, ctx, `(document.querySelector('.site-nav [aria-current="page"]') || {textContent: ''}).textContent`)
	}
	must(t, chromedp.Do(ctx, chromedp.Navigate(e.issuer+"/admin")))
	typePassword(t, ctx, "root@example.com", testPassword)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.site-nav`))))
	wantPath(t, ctx, "/admin")
	if got := current(); got != "Admin" {
		t.Errorf("on /admin the header marks %q", got)
	}
	capture(t, ctx, "admin-header")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.site-nav a[href="/account"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.sessions`)),
	))
	if got := current(); got != "Account" {
		t.Errorf("on /account the header marks %q", got)
	}
	capture(t, ctx, "account-header")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.site-user__signout button`)),
		chromedp.WaitVisible(chromedp.CSS(`.badge-icon`)),
	))
	capture(t, ctx, "signed-out-from-header")

	// Error pages, and their ways back.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/no-such-page"),
		chromedp.WaitVisible(chromedp.CSS(`.error__back a`)),
	))
	capture(t, ctx, "error-not-found")
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/login?auth_request=gone"),
		chromedp.WaitVisible(chromedp.CSS(`.error__back a`)),
	))
	capture(t, ctx, "error-expired")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.error__back a`))))
	pollTrue(t, ctx, `location.pathname === '/' && document.readyState === 'complete'`, "the expired sign-in's way back is not the start page")

	// A user who is no admin: Admin is not in their header, and /admin
	// leads them back to their account.
	must(t, chromedp.Do(ctx, chromedp.Navigate(e.issuer+"/account")))
	typePassword(t, ctx, "ada@example.com", testPassword)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.site-nav`))))
	if n := evaluate[int](t, ctx, `document.querySelectorAll('.site-nav a[href="/admin"]').length`); n != 0 {
		t.Error("the header of a user who is no admin links to /admin")
	}
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`.error__back a`)),
	))
	capture(t, ctx, "error-not-admin")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.error__back a`)),
		chromedp.WaitVisible(chromedp.CSS(`table.sessions`)),
	))
	wantPath(t, ctx, "/account")
}
