package idp_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/portcullis-idp/portcullis/idp/demo"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
	"github.com/portcullis-idp/portcullis/templates"
)

// chromium returns a headless browser context, or skips (fails under CI)
// when no Chromium is installed.
func chromium(t *testing.T) context.Context {
	t.Helper()
	return chromiumWithin(t, 60*time.Second)
}

// chromiumWithin is chromium for a test that walks many pages: the browser
// and everything in it end after limit.
func chromiumWithin(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium must be installed in CI")
		}
		t.Skip("no Chromium installed")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// screenshot saves the page when PORTCULLIS_SCREENSHOT_DIR is set, so a
// person can look at what the test saw.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("PORTCULLIS_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// TestDemoSignInInBrowser signs in through the demo relying app in a real
// Chromium: demo home, sign-in page, consent, and the claims page.
func TestDemoSignInInBrowser(t *testing.T) {
	ctx := chromium(t)
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	tpl, err := templates.Load()
	must(t, err)

	demoTS := httptest.NewUnstartedServer(nil)
	demoURL := "http://" + demoTS.Listener.Addr().String()
	secret, hash, err := e.srv.ClientSecret()
	must(t, err)
	client := &store.Client{
		Name: "Portcullis demo app", SecretHash: hash, RedirectURIs: []string{demoURL + "/callback"},
		RequirePKCE: true, Scopes: []string{"openid", "profile", "email"}, GrantTypes: []string{"authorization_code"},
	}
	must(t, e.store.CreateClient(context.Background(), client))
	h, err := demo.New(demo.Config{Issuer: e.issuer, ClientID: client.ID, ClientSecret: secret, RedirectURL: demoURL + "/callback", Templates: tpl})
	must(t, err)
	demoTS.Config.Handler = h
	demoTS.Start()
	t.Cleanup(demoTS.Close)

	must(t, chromedp.Do(ctx,
		chromedp.Navigate(demoURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/login"]`)),
	))
	screenshot(t, ctx, "demo-home")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
	))
	loginTitle, err := chromedp.Run(ctx, chromedp.Title())
	must(t, err)
	screenshot(t, ctx, "login")
	if !strings.Contains(loginTitle, "Sign in") {
		t.Fatalf("login page title %q", loginTitle)
	}
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testPassword),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="allow"]`)),
	))
	screenshot(t, ctx, "consent")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[name="decision"][value="allow"]`)),
		chromedp.WaitVisible(chromedp.CSS(`pre`)),
	))
	claims, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`pre`)))
	must(t, err)
	screenshot(t, ctx, "claims")
	for _, want := range []string{`"email": "ada@example.com"`, `"pwd"`, `"sub": "` + e.user.ID + `"`, `"tenant": "acme"`} {
		if !strings.Contains(claims, want) {
			t.Errorf("claims page lacks %s:\n%s", want, claims)
		}
	}
}

// TestDemoSignOutInBrowser: the demo app's "Sign out" is RP-initiated
// logout at the provider (id_token_hint, post_logout_redirect_uri, state),
// so the next "Sign in" asks for the password and the code again; the
// callback leaves a clean address and the start page shows who is signed
// in.
func TestDemoSignOutInBrowser(t *testing.T) {
	e := newEnv(t, func(tb testing.TB) *store.Store { return storetest.OpenSQLite(tb) })
	e.requireTFA(true)
	u := &mfaUser{email: "ada@example.com", password: testPassword}
	e.signIn(newBrowser(t), authURLFor(e.rp(e.client, e.secret), oauth2.GenerateVerifier()), u) // enrolls
	ctx := chromium(t)
	tpl, err := templates.Load()
	must(t, err)

	demoTS := httptest.NewUnstartedServer(nil)
	demoURL := "http://" + demoTS.Listener.Addr().String()
	secret, hash, err := e.srv.ClientSecret()
	must(t, err)
	client := &store.Client{
		Name: "Portcullis demo app", SecretHash: hash, RedirectURIs: []string{demoURL + "/callback"},
		PostLogoutRedirectURIs: []string{demoURL + "/"}, BackchannelLogoutURI: demoURL + "/backchannel-logout",
		RequirePKCE: true, SkipConsent: true, Scopes: []string{"openid", "profile", "email"}, GrantTypes: []string{"authorization_code"},
	}
	must(t, e.store.CreateClient(context.Background(), client))
	h, err := demo.New(demo.Config{Issuer: e.issuer, ClientID: client.ID, ClientSecret: secret, RedirectURL: demoURL + "/callback", Templates: tpl})
	must(t, err)
	demoTS.Config.Handler = h
	demoTS.Start()
	t.Cleanup(demoTS.Close)

	signIn := func(round string) {
		t.Helper()
		must(t, chromedp.Do(ctx,
			chromedp.Navigate(demoURL+"/"),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/login"]`)),
			chromedp.Click(chromedp.CSS(`a[href="/login"]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
		))
		typePassword(t, ctx, u.email, u.password)
		must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#code`))))
		wantPath(t, ctx, "/login/code")
		must(t, chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS(`#code`), u.app.code(t)),
			chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`pre`)),
		))
		if loc := evaluate[string](t, ctx, `location.href`); loc != demoURL+"/" {
			t.Errorf("%s: signed in at %s, want the clean %s/", round, loc, demoURL)
		}
		lede, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.lede`)))
		must(t, err)
		if !strings.Contains(lede, "Signed in as ") || !strings.Contains(lede, u.email) {
			t.Errorf("%s: the start page does not say who is signed in: %q", round, lede)
		}
	}
	signIn("first sign-in")
	capture(t, ctx, "demo-signed-in")
	liveSessions := func() int {
		live, err := e.store.ListUserSessions(context.Background(), e.userID(t, u.email), time.Hour)
		must(t, err)
		return len(live)
	}
	before := liveSessions()

	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert--notice`)),
	))
	notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.alert--notice`)))
	must(t, err)
	if !strings.Contains(notice, "signed out of this app and of Portcullis") {
		t.Errorf("after Sign out: %q", notice)
	}
	capture(t, ctx, "demo-signed-out")
	if after := liveSessions(); after != before-1 {
		t.Errorf("the provider's session outlived the demo's Sign out: %d live before, %d after", before, after)
	}

	// The next sign-in asks for both factors again.
	signIn("after Sign out")
}
