package flow_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

var allStages = []flow.Stage{
	flow.StageLogin, flow.StageCode, flow.StageEnroll, flow.StageEnrollKey, flow.StageEnrollVerify,
	flow.StageSignedIn, flow.StageConsented, flow.StageLogout,
}

// allowed is the transition table written out as the sign-in's pages use
// it; TestTransitions walks every pair of stages against it, so a move
// added or removed in flow.go must be added or removed here too.
var allowed = map[[2]flow.Stage]string{
	{flow.StageLogin, flow.StageCode}:                "password ok, has an authenticator",
	{flow.StageLogin, flow.StageEnroll}:              "password ok, MFA required, no authenticator",
	{flow.StageLogin, flow.StageSignedIn}:            "password ok, no second factor needed",
	{flow.StageCode, flow.StageSignedIn}:             "code ok",
	{flow.StageCode, flow.StageCode}:                 "decided afresh after a recovery key or reset",
	{flow.StageCode, flow.StageEnroll}:               "recovery key spent, MFA required",
	{flow.StageEnroll, flow.StageEnroll}:             "start over: a new secret",
	{flow.StageEnroll, flow.StageEnrollKey}:          "QR code scanned",
	{flow.StageEnroll, flow.StageCode}:               "enrolled meanwhile in another tab",
	{flow.StageEnrollKey, flow.StageEnroll}:          "Back to step 1 (same secret), or start over",
	{flow.StageEnrollKey, flow.StageCode}:            "enrolled meanwhile in another tab",
	{flow.StageEnrollVerify, flow.StageCode}:         "enrolled meanwhile in another tab",
	{flow.StageEnrollKey, flow.StageEnrollVerify}:    "recovery key stored",
	{flow.StageEnrollVerify, flow.StageEnroll}:       "Back to step 1, start over, or the secret replaced in another tab",
	{flow.StageEnrollVerify, flow.StageEnrollKey}:    "Back to step 2: the same key",
	{flow.StageEnrollVerify, flow.StageSignedIn}:     "confirming code ok",
	{flow.StageEnrollVerify, flow.StageEnrollVerify}: "a new WebAuthn ceremony, or one consumed",
	{flow.StageEnroll, flow.StageSignedIn}:           "Later, before the enrollment deadline",
	{flow.StageLogin, flow.StageLogin}:               "a passwordless ceremony begun or consumed",
	{flow.StageEnroll, flow.StageEnrollVerify}:       "a factor added beside others: no new recovery key",
	{flow.StageSignedIn, flow.StageLogin}:            "resumed without a live session",
	{flow.StageSignedIn, flow.StageCode}:             "step-up on resume",
	{flow.StageSignedIn, flow.StageEnroll}:           "step-up on resume, no authenticator",
	{flow.StageSignedIn, flow.StageConsented}:        "consent given",
	{flow.StageConsented, flow.StageLogin}:           "resumed without a live session",
	{flow.StageConsented, flow.StageCode}:            "step-up on resume",
	{flow.StageConsented, flow.StageEnroll}:          "step-up on resume, no authenticator",
}

func TestTransitions(t *testing.T) {
	for _, from := range allStages {
		for _, to := range allStages {
			_, want := allowed[[2]flow.Stage{from, to}]
			if got := flow.CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestEveryStageHasAPageOrIsTerminal(t *testing.T) {
	for _, st := range allStages {
		if flow.Path(st) == "" && st != flow.StageLogout {
			t.Errorf("stage %s has no page", st)
		}
	}
}

// TestAdvanceOnStore walks moves through a real store: allowed moves are
// written, refused moves write nothing, and a stale request (another tab
// moved it) gets ErrExpired.
func TestAdvanceOnStore(t *testing.T) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) { testAdvanceOnStore(t, open(t)) })
	}
}

func testAdvanceOnStore(t *testing.T, st *store.Store) {
	ctx := t.Context()
	cl := &store.Client{Name: "RP", RedirectURIs: store.StringList{"https://rp.example/cb"}, Public: true}
	if err := st.CreateClient(ctx, cl); err != nil {
		t.Fatal(err)
	}
	n := 0
	f := &flow.Flows{Store: st, NewID: func() string { n++; return fmt.Sprint("req-", n) }}

	p, err := f.Start(ctx, flow.Start{Kind: flow.KindAuthorize, Stage: flow.StageLogin, BrowserID: "b1", ClientID: cl.ID,
		Form: map[string][]string{"scope": {"openid"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Start(ctx, flow.Start{Kind: flow.KindLogout, Stage: flow.StageLogin, BrowserID: "b1"}); err == nil {
		t.Error("a logout request started at the login stage")
	}
	if _, err := f.Load(ctx, p.ID, "b2"); !errors.Is(err, flow.ErrExpired) {
		t.Errorf("Load by another browser: %v", err)
	}
	if _, err := f.Load(ctx, p.ID, "b1", flow.StageCode); !errors.Is(err, flow.ErrExpired) {
		t.Errorf("Load at the wrong stage: %v", err)
	} else if other, ok := errors.AsType[*flow.AtOtherStepError](err); !ok || other.URL != "/login?auth_request="+p.ID {
		t.Errorf("Load at the wrong stage does not name the page of the request's step: %v", err)
	}
	if _, err := f.Load(ctx, p.ID, "b2", flow.StageCode); !errors.Is(err, flow.ErrExpired) || errors.As(err, new(*flow.AtOtherStepError)) {
		t.Errorf("Load by another browser at the wrong stage: %v, want ErrExpired naming no page", err)
	}
	stale, err := f.Load(ctx, p.ID, "b1", flow.StageLogin)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Advance(ctx, p, flow.StageConsented); err == nil || errors.Is(err, flow.ErrExpired) {
		t.Errorf("login -> consented: %v, want a refused move", err)
	}
	if err := f.Advance(ctx, p, flow.StageCode, flow.User("u1")); err != nil {
		t.Fatal(err)
	}
	if err := f.Advance(ctx, stale, flow.StageSignedIn, flow.Session("s1")); !errors.Is(err, flow.ErrExpired) {
		t.Errorf("stale advance: %v, want ErrExpired", err)
	}
	got, err := f.Load(ctx, p.ID, "b1", flow.StageCode)
	if err != nil || got.UserID != "u1" || got.SessionID != "" || got.Form().Get("scope") != "openid" || got.Kind() != flow.KindAuthorize {
		t.Fatalf("after advance: %+v, %v", got, err)
	}
	if got.URL() != "/login/code?auth_request="+p.ID {
		t.Errorf("URL = %s", got.URL())
	}
	next, err := f.Continue(ctx, got)
	if err != nil || next != "/oauth2/auth/resume?auth_request="+p.ID {
		t.Errorf("Continue(authorize) = %q, %v", next, err)
	}
	if err := f.Finish(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := f.Finish(ctx, got); !errors.Is(err, flow.ErrExpired) {
		t.Errorf("second Finish: %v", err)
	}

	// Two tabs at enrollment step 1: both draw a new secret (a move that
	// keeps the stage); the second, working from what it read before the
	// first moved, loses.
	enr, err := f.Start(ctx, flow.Start{Kind: flow.KindAuthorize, Stage: flow.StageEnroll, BrowserID: "b1", ClientID: cl.ID,
		UserID: "u1", Form: map[string][]string{"scope": {"openid"}}})
	if err != nil {
		t.Fatal(err)
	}
	tabA, _ := f.Load(ctx, enr.ID, "b1", flow.StageEnroll)
	tabB, _ := f.Load(ctx, enr.ID, "b1", flow.StageEnroll)
	if err := f.Advance(ctx, tabA, flow.StageEnroll, flow.Sealed("key-a")); err != nil {
		t.Fatal(err)
	}
	if err := f.Advance(ctx, tabB, flow.StageEnroll, flow.Sealed("key-b")); !errors.Is(err, flow.ErrExpired) {
		t.Errorf("second tab's move over a newer secret: %v, want ErrExpired", err)
	}
	if got, _ := f.Load(ctx, enr.ID, "b1"); got == nil || got.SecretData != "key-a" {
		t.Errorf("the first tab's secret was overwritten: %+v", got)
	}

	acct, err := f.Start(ctx, flow.Start{Kind: flow.KindAccount, Stage: flow.StageEnroll, BrowserID: "b1",
		Form: flow.AccountForm("/admin", "activated"), UserID: "u1", SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if next, err := f.Continue(ctx, acct); err != nil || next != "/admin?done=activated" {
		t.Errorf("Continue(account) = %q, %v", next, err)
	}
	if _, err := f.Load(ctx, acct.ID, "b1"); !errors.Is(err, flow.ErrExpired) {
		t.Errorf("account request still there after Continue: %v", err)
	}
	evil, err := f.Start(ctx, flow.Start{Kind: flow.KindAccount, Stage: flow.StageLogin, BrowserID: "b1",
		Form: flow.AccountForm("https://evil.example/", "x&y=1")})
	if err != nil {
		t.Fatal(err)
	}
	if next, _ := f.Continue(ctx, evil); next != "/account" {
		t.Errorf("Continue with a foreign return path = %q, want /account", next)
	}
}

func TestNextFactor(t *testing.T) {
	has := func(v bool) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) { return v, nil }
	}
	never := func(context.Context) (bool, error) { return false, errors.New("asked without need") }
	for _, tc := range []struct {
		name string
		f    flow.Facts
		want flow.Step
	}{
		{"no session", flow.Facts{Level: flow.LevelNone, HasAuthenticator: never}, flow.StepPassword},
		{"fresh password, authenticator", flow.Facts{Level: flow.LevelPassword, FreshPassword: true, HasAuthenticator: has(true)}, flow.StepCode},
		{"fresh password, tenant requires, none", flow.Facts{Level: flow.LevelPassword, FreshPassword: true, TenantRequiresTFA: true, HasAuthenticator: has(false)}, flow.StepEnroll},
		{"fresh password, app wants MFA, none", flow.Facts{Level: flow.LevelPassword, FreshPassword: true, AppWantsMFA: true, HasAuthenticator: has(false)}, flow.StepEnroll},
		{"fresh password, nothing required", flow.Facts{Level: flow.LevelPassword, FreshPassword: true, HasAuthenticator: has(false)}, flow.StepDone},
		{"session, tenant requires (sessions run out)", flow.Facts{Level: flow.LevelPassword, TenantRequiresTFA: true, HasAuthenticator: never, ConsentNeeded: has(false)}, flow.StepDone},
		{"session, step-up with authenticator", flow.Facts{Level: flow.LevelPassword, AppWantsMFA: true, HasAuthenticator: has(true)}, flow.StepCode},
		{"session, step-up without", flow.Facts{Level: flow.LevelPassword, AppWantsMFA: true, HasAuthenticator: has(false)}, flow.StepEnroll},
		{"MFA session, app wants MFA", flow.Facts{Level: flow.LevelMFA, AppWantsMFA: true, HasAuthenticator: never, ConsentNeeded: has(false)}, flow.StepDone},
		{"MFA session, consent needed", flow.Facts{Level: flow.LevelMFA, HasAuthenticator: never, ConsentNeeded: has(true)}, flow.StepConsent},
		{"password session, consent needed", flow.Facts{Level: flow.LevelPassword, HasAuthenticator: never, ConsentNeeded: has(true)}, flow.StepConsent},
	} {
		got, err := flow.NextFactor(t.Context(), tc.f)
		if err != nil || got != tc.want {
			t.Errorf("%s: NextFactor = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	// The stage each step waits at exists in the transition table.
	for _, s := range []flow.Step{flow.StepPassword, flow.StepCode, flow.StepEnroll, flow.StepConsent, flow.StepDone} {
		if !slices.Contains(allStages, s.Stage()) {
			t.Errorf("step %v waits at unknown stage %q", s, s.Stage())
		}
	}
}
