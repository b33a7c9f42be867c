package idp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/mfa"
)

// The two-factor pages in a real Chromium: enrollment, the code page, the
// recovery key and the account page, each checked for layout and
// accessibility problems at a desktop and a phone width (and in dark mode),
// and saved as screenshots when PORTCULLIS_SCREENSHOT_DIR is set.

// browserWait bounds every wait of these tests for something the page does
// on its own (a download, a redirect): a deadline, never an assertion on
// how long it took.
const browserWait = 30 * time.Second

// browserLimit ends a test's browser, and so the test, if it hangs. It is
// generous: a loaded CI machine running -race is slow.
const browserLimit = 4 * time.Minute

// TestEnrollmentInBrowser: a tenant requires TFA, a relying app sends the
// user to sign in, and the three enrollment steps are done with a mouse
// and a keyboard: the QR code is a real PNG, the recovery key step cannot
// be left without ticking the box, the key downloads as a file, and a code
// from the app reaches the app at the MFA level.
func TestEnrollmentInBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := chromiumWithin(t, browserLimit)
		e.requireTFA(true)
		relying := e.rp(e.client, e.secret)
		landings := watchLandings(t, ctx)

		verifier := oauth2.GenerateVerifier()
		must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier))))
		typePassword(t, ctx, "ada@example.com", testPassword)
		enrollInBrowser(t, ctx, e, "enroll")
		_, c := e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
		wantMFAClaims(t, c)
		if has, _ := e.store.HasActiveAuthenticator(context.Background(), e.user.ID); !has {
			t.Fatal("no active authenticator after enrollment in the browser")
		}
	})
}

// TestCodeChallengeInBrowser: the second sign-in of an enrolled user asks
// for the code in a field phones can fill from the SMS/one-time-code
// keyboard; a wrong code shows the error, the right one reaches the app.
func TestCodeChallengeInBrowser(t *testing.T) {
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	u := &mfaUser{email: "ada@example.com", password: testPassword}
	e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), u) // enrolls

	ctx := chromiumWithin(t, browserLimit)
	landings := watchLandings(t, ctx)
	verifier := oauth2.GenerateVerifier()
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, verifier))))
	typePassword(t, ctx, u.email, u.password)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#code`))))
	wantPath(t, ctx, "/login/code")
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS(`#code`)))
	must(t, err)
	for k, want := range map[string]string{"autocomplete": "one-time-code", "inputmode": "numeric", "name": "code", "maxlength": "6"} {
		if attrs[k] != want {
			t.Errorf("code input %s=%q, want %q", k, attrs[k], want)
		}
	}
	if focused := evaluate[string](t, ctx, `document.activeElement && document.activeElement.id`); focused != "code" {
		t.Errorf("the code field has no focus on load (focus on %q)", focused)
	}
	if link := evaluate[string](t, ctx, `(document.querySelector('a[href^="/login/recovery"]') || {}).textContent || ""`); !strings.Contains(link, "Lost your device?") {
		t.Errorf("code page has no recovery link, got %q", link)
	}
	capture(t, ctx, "code")

	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), u.app.wrongCode(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#code-error`)),
	))
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#code-error`)))
	must(t, err)
	if !strings.Contains(msg, "not correct") {
		t.Errorf("wrong code message %q", msg)
	}
	if evaluate[string](t, ctx, `document.getElementById('code').getAttribute('aria-invalid')`) != "true" {
		t.Error("the code field is not marked aria-invalid after a wrong code")
	}
	capture(t, ctx, "code-error")

	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), u.app.code(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		// The wrong code is reported before the sign-in goes on.
		chromedp.WaitVisible(chromedp.CSS(`.badge-icon--warn`)),
	))
	capture(t, ctx, "failed-codes")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.btn--primary`))))
	_, c := e.tokenFor(relying, waitLanding(t, ctx, landings), verifier)
	wantMFAClaims(t, c)
}

// TestRecoveryKeyInBrowser: "Lost your device?" leads to the recovery key
// page; the key typed in lower case with spaces signs in and leads to a new
// enrollment.
func TestRecoveryKeyInBrowser(t *testing.T) {
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	e.requireTFA(true)
	relying := e.rp(e.client, e.secret)
	u := &mfaUser{email: "ada@example.com", password: testPassword}
	e.signIn(newBrowser(t), authURLFor(relying, oauth2.GenerateVerifier()), u) // enrolls

	ctx := chromiumWithin(t, browserLimit)
	must(t, chromedp.Do(ctx, chromedp.Navigate(authURLFor(relying, oauth2.GenerateVerifier()))))
	typePassword(t, ctx, u.email, u.password)
	must(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/login/recovery"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/login/recovery"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery_key`)),
	))
	wantPath(t, ctx, "/login/recovery")
	if focused := evaluate[string](t, ctx, `document.activeElement && document.activeElement.id`); focused != "recovery_key" {
		t.Errorf("the recovery key field has no focus on load (focus on %q)", focused)
	}
	capture(t, ctx, "recovery")

	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#recovery_key`), strings.Repeat("a", 64)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-error`)),
	))
	capture(t, ctx, "recovery-error")

	typed := strings.ToLower(strings.ReplaceAll(u.recoveryKey, "-", " "))
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#recovery_key`), typed),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#totp-secret`)),
	))
	wantPath(t, ctx, "/enroll")
	if s := otpauthSecret(t, ctx); s == u.app.secret {
		t.Fatal("re-enrollment after the recovery key shows the old secret")
	}
	if has, _ := e.store.HasActiveAuthenticator(context.Background(), e.user.ID); has {
		t.Fatal("the old authenticator survived the recovery key")
	}
}

// TestAccountPageInBrowser: a signed-in user without 2FA activates it from
// the account page, sees two sessions, creates a new recovery key (a wrong
// code first), and signs out through the confirmation page.
func TestAccountPageInBrowser(t *testing.T) {
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	ctx := chromiumWithin(t, browserLimit)
	must(t, chromedp.Do(ctx, chromedp.Navigate(e.issuer+"/account")))
	typePassword(t, ctx, "ada@example.com", testPassword)
	activate := chromedp.CSS(`form[action="/account/2fa/activate"] button`)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(activate)))
	capture(t, ctx, "account-inactive")

	must(t, chromedp.Do(ctx, chromedp.Click(activate)))
	app, key := enrollInBrowser(t, ctx, e, "account-enroll")
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.alert--notice`))))
	wantPath(t, ctx, "/account")
	if notice, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.alert--notice`))); !strings.Contains(notice, "now active") {
		t.Errorf("after activation the notice says %q", notice)
	}

	// A second session, from another device.
	other := newBrowser(t)
	other.c.Transport = userAgent{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"}
	if landed := e.signIn(other, e.issuer+"/account", &mfaUser{email: "ada@example.com", password: testPassword, app: app}); landed.Path != "/account" {
		t.Fatalf("second sign-in ended at %s", landed)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`table.sessions`)),
	))
	if n := evaluate[int](t, ctx, `document.querySelectorAll('#sessions-table tbody tr').length`); n != 2 {
		t.Fatalf("account page lists %d sessions, want 2", n)
	}
	rows, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#sessions-table tbody`)))
	must(t, err)
	for _, want := range []string{"This device", "Firefox on Windows", "Verified"} {
		if !strings.Contains(rows, want) {
			t.Errorf("sessions table lacks %q:\n%s", want, rows)
		}
	}
	capture(t, ctx, "account")

	// A new recovery key: a wrong code first.
	newKeyForm := `form[action="/account/2fa/recovery-key"]`
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#recovery-code`), app.wrongCode(t)),
		chromedp.Click(chromedp.CSS(newKeyForm+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#account-error`)),
	))
	if evaluate[string](t, ctx, `document.getElementById('recovery-code').getAttribute('aria-invalid')`) != "true" {
		t.Error("the new-key code field is not marked aria-invalid after a wrong code")
	}
	capture(t, ctx, "account-error")
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#recovery-code`), app.code(t)),
		chromedp.Click(chromedp.CSS(newKeyForm+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-key`)),
	))
	newKey := pageRecoveryKey(t, ctx)
	if newKey == key {
		t.Fatal("the new recovery key is the old one")
	}
	wantKeyLines(t, ctx)
	capture(t, ctx, "recovery-key-issued")
	if file := downloadRecoveryKey(t, ctx); !strings.Contains(strings.ReplaceAll(file, "\n", "-"), newKey) {
		t.Errorf("downloaded key file does not hold the key shown:\n%s", file)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/account"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.sessions`)),
	))

	// Under the tenant's policy, deactivation is explained instead.
	e.requireTFA(true)
	must(t, chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`.panel--quiet`)),
	))
	capture(t, ctx, "account-required")

	// RP-initiated logout without a token hint asks first.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/logout?client_id="+url.QueryEscape(e.client.ID)),
		chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="yes"]`)),
	))
	capture(t, ctx, "logout-confirm")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[name="decision"][value="yes"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.badge-icon`)),
	))
	capture(t, ctx, "signed-out")
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.issuer+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
	))
}

// enrollInBrowser walks the three enrollment steps from step 1 on, checking
// each page, and submits a right code on step 3 (after a wrong one). It
// returns the test's authenticator and the recovery key shown.
func enrollInBrowser(t *testing.T, ctx context.Context, e *env, shot string) (*authenticator, string) {
	t.Helper()
	// Step 1: the QR code and the secret.
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#totp-secret`))))
	wantPath(t, ctx, "/enroll")
	src := evaluate[string](t, ctx, `document.querySelector('.qr__img').getAttribute('src')`)
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(src, prefix) {
		t.Fatalf("QR image src %.60q is not a data: PNG", src)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, prefix))
	must(t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("QR image does not decode as PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < 150 || b.Dx() > 1000 {
		t.Fatalf("QR image is %dx%d", b.Dx(), b.Dy())
	}
	pollTrue(t, ctx, `(() => { const i = document.querySelector('.qr__img'); return i.complete && i.naturalWidth > 0 })()`,
		"the browser did not render the QR image (blocked by the CSP?)")
	secret := otpauthSecret(t, ctx)
	shown, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#totp-secret`)))
	must(t, err)
	if strings.TrimSpace(shown) != secret.Grouped() {
		t.Fatalf("secret shown %q, otpauth link has %q", shown, secret.Grouped())
	}
	capture(t, ctx, shot+"-scan")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-key`)),
	))

	// Step 2: the recovery key; Continue is blocked until the box is ticked.
	wantPath(t, ctx, "/enroll/recovery-key")
	key := pageRecoveryKey(t, ctx)
	if norm, ok := mfa.NormalizeRecoveryKey(key); !ok || len(norm) != mfa.RecoveryKeyLen {
		t.Fatalf("recovery key shown %q is not a 64-symbol key", key)
	}
	wantKeyLines(t, ctx)
	capture(t, ctx, shot+"-recovery-key")
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](
		`window.__portcullisInvalid = false; document.getElementById('stored').addEventListener('invalid', () => { window.__portcullisInvalid = true })`)))
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button[type="submit"]`))))
	pollTrue(t, ctx, `window.__portcullisInvalid === true`, "Continue without the box ticked was not stopped by the browser")
	wantPath(t, ctx, "/enroll/recovery-key")
	if !evaluate[bool](t, ctx, `document.getElementById('stored').validity.valueMissing`) {
		t.Fatal("the unticked box is not reported as missing")
	}
	if file := downloadRecoveryKey(t, ctx); !strings.Contains(strings.ReplaceAll(file, "\n", "-"), key) {
		t.Fatalf("downloaded key file does not hold the key shown (%s):\n%s", key, file)
	}
	wantPath(t, ctx, "/enroll/recovery-key") // the download left the page as it was
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#stored`)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	))

	// Step 3: a code from the app; a wrong one first.
	wantPath(t, ctx, "/enroll/verify")
	app := e.app(secret)
	capture(t, ctx, shot+"-verify")
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), app.wrongCode(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#code-error`)),
	))
	capture(t, ctx, shot+"-verify-error")
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), app.code(t)),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
	))
	return app, key
}

// typePassword fills and submits the sign-in page.
func typePassword(t *testing.T, ctx context.Context, email, password string) {
	t.Helper()
	must(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
	))
}

// otpauthSecret reads the secret from the otpauth:// link of step 1.
func otpauthSecret(t *testing.T, ctx context.Context) mfa.Secret {
	t.Helper()
	href := evaluate[string](t, ctx, `document.querySelector('a[href^="otpauth://"]').getAttribute('href')`)
	u, err := url.Parse(href)
	must(t, err)
	if u.Host != "totp" || u.Query().Get("issuer") != "Portcullis" {
		t.Fatalf("otpauth link %s", u)
	}
	s, err := mfa.ParseSecret(u.Query().Get("secret"))
	must(t, err)
	return s
}

func pageRecoveryKey(t *testing.T, ctx context.Context) string {
	t.Helper()
	key, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#recovery-key .secret__lines`)))
	must(t, err)
	return strings.TrimSpace(key)
}

// wantKeyLines checks that the recovery key on the page reads like the
// paper key, four groups to a line, at a desktop and a phone width, also
// for keys whose groups start with digits (Unicode's line breaking rules
// allow no break between a dash and a digit).
func wantKeyLines(t *testing.T, ctx context.Context) {
	t.Helper()
	defer func() { must(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900))) }()
	for _, width := range []int64{1280, 390} {
		must(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile)))
		for _, sample := range []string{"",
			"ABCD-EFGH-JKMN-PQRS-0ABC-DEFG-HJKM-NPQR-1ABC-DEFG-HJKM-NPQR-2ABC-DEFG-HJKM-NPQR",
			"0123-4567-89AB-CDEF-0123-4567-89AB-CDEF-0123-4567-89AB-CDEF-0123-4567-89AB-CDEF",
		} {
			lines := evaluate[[]string](t, ctx, fmt.Sprintf(keyLinesJS, sample))
			if len(lines) != 4 {
				t.Errorf("at %d px the recovery key %q is shown as %d lines: %q", width, sample, len(lines), lines)
				continue
			}
			for _, l := range lines {
				if len(strings.Split(strings.Trim(l, "-"), "-")) != 4 {
					t.Errorf("at %d px a line of the recovery key reads %q, want four groups", width, l)
				}
			}
		}
	}
}

// keyLinesJS returns the lines the recovery key is laid out in; with a
// sample (%q), it lays out the sample in a copy of the key's element.
const keyLinesJS = `((sample) => {
  const key = document.querySelector('#recovery-key .secret__lines');
  let el = key;
  if (sample) { el = key.cloneNode(); el.textContent = sample; key.after(el); }
  const text = el.firstChild, lines = [];
  let top = null;
  for (let i = 0; i < text.length; i++) {
    const r = document.createRange(); r.setStart(text, i); r.setEnd(text, i + 1);
    const y = Math.round(r.getBoundingClientRect().top);
    if (y !== top) { lines.push(''); top = y; }
    lines[lines.length - 1] += text.data[i];
  }
  if (sample) el.remove();
  return lines;
})(%q)`

// downloadRecoveryKey clicks the page's download link and returns the file
// the browser saved.
func downloadRecoveryKey(t *testing.T, ctx context.Context) string {
	t.Helper()
	dir := t.TempDir()
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	})
	must(t, err)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[download]`))))
	path := filepath.Join(dir, "portcullis-recovery-key.txt")
	deadline := time.Now().Add(browserWait)
	for {
		// The browser writes to a temporary name and renames when done.
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return string(b)
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			t.Fatalf("no downloaded key file in %s (found %v)", dir, entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchLandings reports the browser's requests to a client's redirect URI
// (127.0.0.1:1, where nothing listens).
func watchLandings(t *testing.T, ctx context.Context) <-chan *url.URL {
	t.Helper()
	ch := make(chan *url.URL, 8)
	must(t, chromedp.Listen(ctx, func(ev any) {
		req, ok := ev.(*network.EventRequestWillBeSent)
		if !ok || !strings.HasPrefix(req.Request.URL, "http://127.0.0.1:1/") {
			return
		}
		if u, err := url.Parse(req.Request.URL); err == nil {
			select {
			case ch <- u:
			default:
			}
		}
	}))
	return ch
}

// waitLanding allows the consent page if it comes and returns the request
// the browser then made to the client's redirect URI.
func waitLanding(t *testing.T, ctx context.Context, landings <-chan *url.URL) *url.URL {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		select {
		case u := <-landings:
			return u
		case <-ctx.Done():
			t.Fatalf("waiting for the redirect to the client: %v", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("the browser never went to the client; it is at %s", loc)
		}
		// Consent is asked the first time this user meets the client. The
		// click is bounded: when an earlier click is already leaving the
		// page, the button never appears again, and an unbounded click
		// waited for it until browserLimit, past the code's lifetime.
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); strings.Contains(loc, "/consent") {
			click, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = chromedp.Do(click, chromedp.Click(chromedp.CSS(`button[name="decision"][value="allow"]`)))
			cancel()
		}
	}
}

func wantPath(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must(t, err)
	u, err := url.Parse(loc)
	must(t, err)
	if u.Path != path {
		t.Fatalf("browser is at %s, want %s", loc, path)
	}
}

func evaluate[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// pollTrue evaluates js until it is true, failing with msg at the deadline.
func pollTrue(t *testing.T, ctx context.Context, js, msg string) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for !evaluate[bool](t, ctx, js) {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// userAgent sets the User-Agent of a test HTTP client, so its session
// looks like another device on the account page.
type userAgent struct{ ua string }

func (a userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", a.ua)
	return http.DefaultTransport.RoundTrip(r)
}

// viewports are the sizes every page is checked and photographed at.
var viewports = []struct {
	name          string
	width, height int64
	mobile, dark  bool
}{
	{name: "desktop", width: 1280, height: 900},
	{name: "phone", width: 390, height: 844, mobile: true},
	{name: "dark", width: 390, height: 844, mobile: true, dark: true},
}

// capture checks the current page for layout and accessibility problems
// at each of viewports, and saves a screenshot of each when
// PORTCULLIS_SCREENSHOT_DIR is set.
func capture(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	defer func() {
		must(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		must(t, err)
	}()
	for _, vp := range viewports {
		var opts []chromedp.EmulateViewportOption
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateScale(2))
		}
		must(t, chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)))
		scheme := "light"
		if vp.dark {
			scheme = "dark"
		}
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			// Reduced motion turns off the CSS transitions, so the audit reads
			// the final colours of the scheme just switched to.
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"}},
		})
		must(t, err)
		for _, p := range evaluate[[]string](t, ctx, pageAuditJS) {
			t.Errorf("%s (%s): %s", name, vp.name, p)
		}
		screenshot(t, ctx, fmt.Sprintf("%s-%s", name, vp.name))
	}
}

// pageAuditJS lists what a person would notice as broken or unfinished:
// content wider than the screen or its card, form fields without a label
// or pointing at missing descriptions, images without alt text, controls
// without a name, duplicate ids, a focused field that does not look
// focused, and text or field borders with too little
// contrast (WCAG 2.2 AA: 4.5:1 for text, 3:1 for large text and for the
// borders that show where a field is).
const pageAuditJS = `(() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) problems.push('page scrolls sideways: ' + doc.scrollWidth + ' > ' + doc.clientWidth);
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  const hidden = (el) => el.closest('.visually-hidden, [hidden]') !== null || el.getClientRects().length === 0;

  const card = document.querySelector('main');
  if (card) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      if (hidden(el) || el.closest('.table-wrap')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > box.right + 1 || r.left < box.left - 1) problems.push(describe(el) + ' sticks out of the card (' + Math.round(r.left) + '..' + Math.round(r.right) + ' vs ' + Math.round(box.left) + '..' + Math.round(box.right) + ')');
    }
  }

  for (const el of document.querySelectorAll('input, textarea, select')) {
    if (el.type === 'hidden' || hidden(el)) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) problems.push(describe(el) + ' has no label');
    for (const id of (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean)) {
      if (!document.getElementById(id)) problems.push(describe(el) + ' is described by missing #' + id);
    }
  }
  for (const img of document.images) if (!img.hasAttribute('alt')) problems.push(describe(img) + ' has no alt');
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) problems.push(describe(el) + ' has no accessible name');
  }
  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push('duplicate id ' + el.id);
    seen.add(el.id);
  }
  const active = document.activeElement;
  if (active && active.matches('input, textarea, select, button, a[href]')) {
    const cs = getComputedStyle(active);
    if ((cs.outlineStyle === 'none' || parseFloat(cs.outlineWidth) === 0) && cs.boxShadow === 'none') problems.push('focused ' + describe(active) + ' shows no focus indicator');
  }
  if (document.querySelectorAll('h1').length !== 1) problems.push(document.querySelectorAll('h1').length + ' h1 elements');

  const parse = (s) => {
    let m = s.match(/^rgba?\(([^)]*)\)$/);
    if (m) { const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
    m = s.match(/^color\(srgb ([^)]*)\)$/);
    if (m) { const p = m[1].split(/[\s\/]+/).filter(Boolean).map(Number); return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1]; }
    return null;
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = parse(getComputedStyle(document.body).backgroundColor) || [255, 255, 255, 1];
    if (bg[3] < 1) bg = over(bg, [255, 255, 255, 1]);
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };

  for (const el of document.body.querySelectorAll('*')) {
    if (hidden(el) || el.closest('.skip-link')) continue;
    const text = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!text) continue;
    const cs = getComputedStyle(el);
    const bg = background(el);
    let fg = parse(cs.color);
    if (!fg) continue;
    if (fg[3] < 1) fg = over(fg, bg);
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    const need = (size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5;
    const got = ratio(fg, bg);
    if (got < need) problems.push('text of ' + describe(el) + ' has contrast ' + got.toFixed(2) + ':1 (' + cs.color + ' on ' + bg.map(Math.round).join(',') + ')');
  }
  for (const el of document.querySelectorAll('.input')) {
    if (hidden(el)) continue;
    const border = parse(getComputedStyle(el).borderTopColor);
    const outside = background(el.parentElement);
    if (border && ratio(over(border, outside), outside) < 3) problems.push('border of ' + describe(el) + ' has contrast ' + ratio(over(border, outside), outside).toFixed(2) + ':1 (' + getComputedStyle(el).borderTopColor + ' on ' + outside.map(Math.round).join(',') + ')');
  }
  return problems;
})()`
