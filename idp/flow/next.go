package flow

import (
	"context"
	"net/url"
	"regexp"
)

// Step is what a sign-in needs next.
type Step int

const (
	StepPassword Step = iota // no usable session: email and password
	StepCode                 // a code from the user's authenticator (or the recovery key)
	StepEnroll               // a second factor is required and the user has none: enroll
	StepConsent              // signed in well enough; the app needs the user's consent
	StepDone                 // nothing more: sign in (or issue the code)
)

func (s Step) String() string {
	return [...]string{"password", "code", "enroll", "consent", "done"}[s]
}

// Stage is the stage of a pending request waiting for step s.
func (s Step) Stage() Stage {
	switch s {
	case StepPassword:
		return StageLogin
	case StepCode:
		return StageCode
	case StepEnroll:
		return StageEnroll
	}
	return StageSignedIn
}

// Path is the page that serves step s.
func (s Step) Path() string {
	switch s {
	case StepConsent:
		return PathConsent
	case StepDone:
		return PathResume
	}
	return Path(s.Stage())
}

// Level is how a browser is signed in.
type Level int

const (
	LevelNone     Level = iota // no session, or one that must sign in again
	LevelPassword              // a password (now or in a live session)
	LevelMFA                   // a password and a second factor
	// LevelPhishingResistant: a password and a passkey or security key
	// (WebAuthn), which a look-alike site cannot relay.
	LevelPhishingResistant
)

// Facts are what NextFactor decides on.
type Facts struct {
	Level Level
	// FreshPassword: the password was checked in this very request. The
	// tenant's policy applies at such a sign-in; a live session from
	// before an admin required two factors runs to its end.
	FreshPassword     bool
	TenantRequiresTFA bool
	AppWantsMFA       bool // acr_values or the claims parameter asked for the MFA level
	// AppWantsPhishingResistant: the app asked for the phishing-resistant
	// level, which only a passkey reaches.
	AppWantsPhishingResistant bool
	// HasAuthenticator: the user has a second factor of any kind, allowed
	// by the tenant or not (asked only when the answer matters: it costs
	// a query). A user who has one is always asked for it first, even to
	// enroll another: the second-factor pages then decide whether it
	// signs in or only proves the user before enrollment.
	HasAuthenticator func(context.Context) (bool, error)
	// ConsentNeeded is asked only once the user is signed in well enough;
	// nil means "not this request's business" (after a password, consent
	// is decided on resume).
	ConsentNeeded func(context.Context) (bool, error)
}

// NextFactor is the one place that decides what a sign-in needs next:
//
//   - no session (or one that must sign in again): the password;
//   - a fresh password and an authenticator: always its code;
//   - the MFA level required (by the app, or by the tenant at a fresh
//     sign-in) and not reached: the code, or enrollment without an
//     authenticator;
//   - the phishing-resistant level asked for (by the app, or by a tenant
//     that allows passkeys only) and not reached: the same, the
//     second-factor page then asking for a passkey, or for the user's
//     other factor before a passkey is added; never enrollment on the
//     password alone for a user who has a factor;
//   - then consent, when the app needs it;
//   - else done.
func NextFactor(ctx context.Context, f Facts) (Step, error) {
	if f.Level == LevelNone {
		return StepPassword, nil
	}
	needMFA := f.Level < LevelMFA && (f.AppWantsMFA || f.FreshPassword && f.TenantRequiresTFA) ||
		f.AppWantsPhishingResistant && f.Level < LevelPhishingResistant
	if needMFA || f.FreshPassword && f.Level < LevelMFA {
		has, err := f.HasAuthenticator(ctx)
		if err != nil {
			return 0, err
		}
		switch {
		case has:
			return StepCode, nil
		case needMFA:
			return StepEnroll, nil
		}
	}
	if f.ConsentNeeded != nil {
		need, err := f.ConsentNeeded(ctx)
		if err != nil {
			return 0, err
		}
		if need {
			return StepConsent, nil
		}
	}
	return StepDone, nil
}

// Account pages a KindAccount request may return to, and the form
// parameters that say where and with which notice.
const (
	ReturnParam = "return_to"
	DoneParam   = "done"
)

var accountPages = map[string]bool{"/account": true, "/admin": true}

var noticeName = regexp.MustCompile(`^[a-z_]{1,40}$`)

// AccountForm is the form of a KindAccount request: the page to go back to
// and the notice to show there ("" for none).
func AccountForm(returnTo, done string) url.Values {
	v := url.Values{ReturnParam: {returnTo}}
	if done != "" {
		v.Set(DoneParam, done)
	}
	return v
}

// Continue finishes a signed-in step of p and returns where the browser
// goes: for an authorization, back to the authorization endpoint, which
// decides again; for an account flow, the row is consumed and the browser
// returns to its page.
func (f *Flows) Continue(ctx context.Context, p *Pending) (string, error) {
	if p.Kind() != KindAccount {
		return PageURL(PathResume, p.ID), nil
	}
	if err := f.Finish(ctx, p); err != nil {
		return "", err
	}
	form := p.Form()
	to := form.Get(ReturnParam)
	if !accountPages[to] {
		to = "/account"
	}
	if done := form.Get(DoneParam); noticeName.MatchString(done) {
		to += "?" + DoneParam + "=" + done
	}
	return to, nil
}
