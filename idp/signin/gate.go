package signin

import (
	"context"
	"net/http"
	"time"

	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// Gate is how Portcullis' own pages (/account, /admin) require a signed-in
// browser: without a session, a GET is sent to sign in and comes back. A
// user with an active authenticator acts there only through a session
// that passed it (NeedsCode): a GET is sent to enter a code first, a POST
// is refused.
type Gate struct {
	Flows          *flow.Flows
	Sessions       *browser.Sessions
	Templates      *templates.Templates
	Authenticators interface {
		HasActiveAuthenticator(ctx context.Context, userID string) (bool, error)
	}
}

// PathEndSession is the account page's form that signs out one of the
// user's sessions; the shared header's Sign out posts the current one.
const PathEndSession = "/account/sessions/end"

// Nav is the header the account and admin pages share, for si on the page
// current (templates.NavAccount or templates.NavAdmin).
func Nav(si *browser.SignedIn, current string) *templates.Nav {
	return &templates.Nav{Current: current, Admin: si.User.IsAdmin(), SignOutAction: PathEndSession, SessionID: si.Session.ID}
}

// FreshFor is how long after passing a second factor a session may add or
// remove one, or act without typing a code, without passing it again (as
// GitHub's "sudo mode").
const FreshFor = 5 * time.Minute

// Fresh reports whether si passed its second factor within FreshFor of
// now.
func Fresh(si *browser.SignedIn, now time.Time) bool {
	return si.Session.ACR == claims.ACRMFA && now.Sub(si.Session.AuthTime) < FreshFor
}

// NeedsCode reports whether si must pass the second factor before acting
// on the user's account or tenant: its user has an active authenticator
// and the session is below the MFA level.
func (g *Gate) NeedsCode(r *http.Request, si *browser.SignedIn) (bool, error) {
	if si.Session.ACR == claims.ACRMFA {
		return false, nil
	}
	return g.Authenticators.HasActiveAuthenticator(r.Context(), si.User.ID)
}

// SignedInStrong is SignedIn at the level NeedsCode asks: a session below
// it is sent to enter a code and come back to returnTo (si is nil then);
// a request other than GET gets stepUp.
func (g *Gate) SignedInStrong(w http.ResponseWriter, r *http.Request, returnTo string, signedOut, stepUp *web.Error) (*browser.SignedIn, error) {
	si, err := g.SignedIn(w, r, returnTo, signedOut)
	if err != nil || si == nil {
		return si, err
	}
	need, err := g.NeedsCode(r, si)
	if err != nil || !need {
		return si, err
	}
	if r.Method != http.MethodGet {
		return nil, stepUp
	}
	return nil, g.Start(w, r, flow.StageCode, flow.AccountForm(returnTo, ""), si)
}

// StrongAction is Action at the level NeedsCode asks: a session below it
// gets stepUp.
func (g *Gate) StrongAction(signedOut, stepUp *web.Error, h func(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error) web.PageFunc {
	return g.Action(signedOut, func(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
		if need, err := g.NeedsCode(r, si); err != nil || need {
			if err != nil {
				return err
			}
			return stepUp
		}
		return h(w, r, si)
	})
}

// SignedIn returns the browser's session, or sends the browser to sign
// in and come back to returnTo (si is nil then, and the response is
// written). A form POST without a session gets signedOut.
func (g *Gate) SignedIn(w http.ResponseWriter, r *http.Request, returnTo string, signedOut *web.Error) (*browser.SignedIn, error) {
	si, err := g.Sessions.Current(r)
	if err != nil || si != nil {
		return si, err
	}
	if r.Method != http.MethodGet {
		return nil, signedOut
	}
	return nil, g.Start(w, r, flow.StageLogin, flow.AccountForm(returnTo, ""), nil)
}

// Start begins an account flow at stage (a sign-in, or enrollment from
// the account page for the signed-in si) and sends the browser to it.
func (g *Gate) Start(w http.ResponseWriter, r *http.Request, stage flow.Stage, form map[string][]string, si *browser.SignedIn) error {
	return g.start(w, r, flow.Start{Kind: flow.KindAccount, Stage: stage, Form: form}, si)
}

// StartAdding starts adding a factor of kind beside si's user's others,
// at its confirming step, as a request that needs no further proof: the
// caller has checked that si passed a second factor a moment ago (Fresh).
func (g *Gate) StartAdding(w http.ResponseWriter, r *http.Request, kind string, form map[string][]string, si *browser.SignedIn) error {
	return g.start(w, r, flow.Start{Kind: flow.KindAccount, Stage: flow.StageEnrollVerify, Form: form, Factor: kind, Proved: true}, si)
}

// start stores the account flow start (for si, when signed in) and sends
// the browser to its page.
func (g *Gate) start(w http.ResponseWriter, r *http.Request, start flow.Start, si *browser.SignedIn) error {
	bid, err := g.Sessions.Binding(w, r)
	if err != nil {
		return err
	}
	start.BrowserID = bid
	if si != nil {
		start.UserID, start.SessionID = si.User.ID, si.Session.ID
	}
	p, err := g.Flows.Start(r.Context(), start)
	if err != nil {
		return err
	}
	http.Redirect(w, r, p.URL(), http.StatusSeeOther)
	return nil
}

// Action is the shape of every account or admin POST: the form must parse
// and a live session is required (signedOut answers when there is none).
func (g *Gate) Action(signedOut *web.Error, h func(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error) web.PageFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			return web.BadRequest("The form could not be read.")
		}
		si, err := g.Sessions.Current(r)
		if err != nil {
			return err
		}
		if si == nil {
			return signedOut
		}
		return h(w, r, si)
	}
}

// SignedOut forgets the session in the cookie and shows the signed-out
// page, with a link back to returnURL when there is one.
func (g *Gate) SignedOut(w http.ResponseWriter, r *http.Request, returnURL string) error {
	if err := g.Sessions.Forget(w, r); err != nil {
		return err
	}
	web.PageHeaders(w, "")
	return g.Templates.SignedOut(w, templates.SignedOutPage{
		Page:      templates.Page{RequestID: web.RequestID(r.Context())},
		ReturnURL: returnURL,
	})
}
