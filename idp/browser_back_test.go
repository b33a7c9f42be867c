package idp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestEnrollmentBackInBrowser: during a forced enrollment the Back button
// shows the same setup key on step 1 and the same recovery key on step 2,
// and going on from the page Back showed finishes the enrollment with a
// code from that same secret. Chromium shows those pages again from its
// back-forward cache (they are GET pages reached by a redirect after each
// POST), without asking the server, so the server must accept step 1's
// and step 2's Continue from a request that is already further on.
func TestEnrollmentBackInBrowser(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite)
	ctx := chromiumWithin(t, browserLimit)
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	landings := watchLandings(t, ctx)
	verifier := oauth2.GenerateVerifier()
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier))))
	typePassword(t, ctx, "ada@example.com", testPassword)

	// Step 1; Back to the password page and signing in again there leads
	// on to step 1 and the same key.
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#totp-secret`))))
	secret := otpauthSecret(t, ctx)
	historyBack(t, ctx, "/login")
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](
		`document.getElementById('email').value = 'ada@example.com'; document.getElementById('password').value = `+jsString(testPassword))))
	clickAndWaitFor(t, ctx, `form button[type="submit"]`, "/login")
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.error__back a`))))
	if h1 := evaluate[string](t, ctx, `document.querySelector('h1').textContent`); h1 != "This step is not current" {
		t.Fatalf("the password page again at step 1 answers %q", h1)
	}
	capture(t, ctx, "error-step-not-current")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.error__back a`)),
		chromedp.WaitVisible(chromedp.CSS(`#totp-secret`)),
	))
	if again := otpauthSecret(t, ctx); again != secret {
		t.Fatal("continuing from the out-of-date password page drew a new key")
	}

	// Step 2.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-key`)),
	))
	key := pageRecoveryKey(t, ctx)

	// Back to step 1: the same key, and Continue goes on to step 2 with
	// the same recovery key.
	historyBack(t, ctx, "/enroll")
	if shown := evaluate[string](t, ctx, `document.querySelector('#totp-secret').textContent.trim()`); shown != secret.Grouped() {
		t.Fatalf("after Back step 1 shows the key %q, before it showed %q", shown, secret.Grouped())
	}
	if href := evaluate[string](t, ctx, `document.querySelector('a[href^="otpauth://"]').getAttribute('href')`); !strings.Contains(href, "secret="+string(secret)) {
		t.Fatalf("after Back the otpauth link is %s, want the secret %s", href, secret)
	}
	screenshot(t, ctx, "enroll-back-scan")
	clickAndWaitFor(t, ctx, `form button[type="submit"]`, "/enroll/recovery-key")
	if again := pageRecoveryKey(t, ctx); again != key {
		t.Fatalf("step 2 after Back shows the recovery key %q, before it showed %q", again, key)
	}

	// Step 3, then Back to step 2: the same recovery key.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#stored`)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	))
	wantPath(t, ctx, "/enroll/verify")
	historyBack(t, ctx, "/enroll/recovery-key")
	if again := evaluate[string](t, ctx, `document.querySelector('#recovery-key .secret__lines').textContent.trim()`); again != key {
		t.Fatalf("after Back step 2 shows the recovery key %q, before it showed %q", again, key)
	}
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('stored').checked = true`)))
	clickAndWaitFor(t, ctx, `form button[type="submit"]`, "/enroll/verify")

	// A code from the secret shown first finishes the enrollment.
	must(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		chromedp.SendKeys(chromedp.CSS(`#code`), e.app(secret).code(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
	))
	_, c := e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	wantMFAClaims(t, c)
	if has, _ := e.store.HasActiveAuthenticator(context.Background(), e.user.ID); !has {
		t.Fatal("no active authenticator after going Back during enrollment")
	}
}

// historyBack goes one entry back in the tab's history, as the Back button
// does, and waits until the browser shows path.
//
// chromedp.NavigateBack cannot be used here: it waits for the load event
// of a new document, and a page restored from the back-forward cache
// (Chromium keeps even no-store pages there) has none: the browser reports
// only a frame navigation of type BackForwardCacheRestore, and
// NavigateBack, with every action queued after it on the same context,
// waited until the test's browser ended. chromedp's view of the DOM is
// also that of the page left, until the next real load, so the restored
// page is read and clicked through JavaScript (evaluate,
// clickAndWaitFor).
func historyBack(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	h, err := chromedp.Call(ctx, page.GetNavigationHistory, struct{}{})
	must(t, err)
	if h.CurrentIndex < 1 {
		t.Fatalf("no history entry before %d", h.CurrentIndex)
	}
	_, err = chromedp.Call(ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID})
	must(t, err)
	pollTrue(t, ctx, `location.pathname === `+jsString(path)+` && document.readyState === 'complete'`,
		"Back did not show "+path)
}

// clickAndWaitFor clicks the element through JavaScript and waits for the
// page at path to have loaded.
func clickAndWaitFor(t *testing.T, ctx context.Context, selector, path string) {
	t.Helper()
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(selector)+`).click()`)))
	pollTrue(t, ctx, `location.pathname === `+jsString(path)+` && document.readyState === 'complete'`,
		"the click did not lead to "+path)
}

func jsString(s string) string {
	return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + `'`
}
