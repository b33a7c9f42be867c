// Package passwordlink is the page a one-time set-password link leads to
// (/set-password?token=...): a tenant admin creates a user, or resets a
// user's password, and hands the link over (no mail is sent).
//
//	GET  /set-password?token=T   the "Choose your password" form; reading it does not spend the link
//	POST /set-password           token, new_password, confirm_password: spends the link, sets the
//	                             password (argon2id through the hashing gate), ends every session of
//	                             the user, and says to sign in
//
// An unknown, used or expired link gets a page saying so, with a way on
// to the sign-in page, and changes nothing. The link is spent by one
// conditional UPDATE in the store, so two requests (or replicas) cannot
// both use it. The token travels in the query of the GET and the body of
// the POST, never in a path: the access log records paths only.
package passwordlink

import (
	"context"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

const (
	pathSetPassword = "/set-password"
	// signInURL starts a sign-in (password, then enrollment where the
	// tenant requires it) that ends on the account page.
	signInURL = "/account"
)

// Page serves the set-password page.
type Page struct {
	Store     Store
	Sessions  *browser.Sessions
	Templates *templates.Templates
	// Hash hashes a new password (credentials.Checker.HashPassword: the
	// configured argon2id cost, through the admission gate).
	Hash func(ctx context.Context, password string) (string, error)
}

// Store is what the page needs of the database.
type Store interface {
	PasswordLinkFor(ctx context.Context, token string) (*store.PasswordLink, *store.User, error)
	SetPasswordByLink(ctx context.Context, token, hash string, actor store.Actor) (*store.User, []store.EndedSession, error)
}

// Mount adds the page to the route table; its POST is origin-checked like
// every form.
func (p *Page) Mount(rt *web.Router) {
	rt.Page("GET "+pathSetPassword, p.show)
	rt.Form("POST "+pathSetPassword, p.submit)
}

// Messages of the form.
const (
	msgTooShort = "Choose a password of at least 12 characters."
	msgTooLong  = "A password is at most 1024 characters."
	msgDiffer   = "The two passwords differ. Type the same password twice."
)

func (p *Page) show(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	link, u, err := p.Store.PasswordLinkFor(r.Context(), token)
	if err != nil {
		return p.invalid(w, r, err)
	}
	return p.form(w, r, token, link, u, "", http.StatusOK)
}

func (p *Page) submit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return web.BadRequest("The form could not be read.")
	}
	ctx := r.Context()
	token, pw, again := r.PostForm.Get("token"), r.PostForm.Get("new_password"), r.PostForm.Get("confirm_password")
	link, u, err := p.Store.PasswordLinkFor(ctx, token)
	if err != nil {
		return p.invalid(w, r, err)
	}
	switch {
	case len(pw) > secrets.MaxPasswordLength:
		return p.form(w, r, token, link, u, msgTooLong, http.StatusBadRequest)
	case utf8.RuneCountInString(pw) < secrets.MinPasswordLength:
		return p.form(w, r, token, link, u, msgTooShort, http.StatusBadRequest)
	case pw != again:
		return p.form(w, r, token, link, u, msgDiffer, http.StatusBadRequest)
	}
	hash, err := p.Hash(ctx, pw)
	if err != nil {
		return err
	}
	actor := store.Actor{IP: web.ClientIP(r), UserAgent: web.UserAgent(r)}
	var user *store.User
	_, err = p.Sessions.End(r, store.EndReasonPasswordSet, func() ([]store.EndedSession, error) {
		var ended []store.EndedSession
		var err error
		user, ended, err = p.Store.SetPasswordByLink(ctx, token, hash, actor)
		return ended, err
	})
	if err != nil {
		return p.invalid(w, r, err)
	}
	headers(w)
	return p.Templates.SetPassword(w, templates.SetPasswordPage{
		Page:  templates.Page{RequestID: web.RequestID(ctx), Title: "Password set"},
		State: templates.SetPasswordDone, Email: user.Email, NewUser: link.Purpose == store.LinkNewUser, SignInURL: signInURL,
	})
}

func (p *Page) form(w http.ResponseWriter, r *http.Request, token string, link *store.PasswordLink, u *store.User, msg string, status int) error {
	headers(w)
	w.WriteHeader(status)
	title := "Choose your password"
	if link.Purpose != store.LinkNewUser {
		title = "Choose a new password"
	}
	return p.Templates.SetPassword(w, templates.SetPasswordPage{
		Page:   templates.Page{RequestID: web.RequestID(r.Context()), Title: title},
		Action: pathSetPassword, Token: token, Email: u.Email, NewUser: link.Purpose == store.LinkNewUser,
		Expires: web.FormatTime(link.ExpiresAt), MinLength: secrets.MinPasswordLength, MaxLength: secrets.MaxPasswordLength,
		Error: msg, SignInURL: signInURL,
	})
}

// invalid answers a link that cannot be used (err from the store): a
// page that says why, with a way on; any other error goes to the error
// page.
func (p *Page) invalid(w http.ResponseWriter, r *http.Request, err error) error {
	var heading, msg string
	status := http.StatusGone
	switch {
	case errors.Is(err, store.ErrLinkUsed):
		heading, msg = "This link was already used", "Each set-password link works once, and this one has been used."
	case errors.Is(err, store.ErrLinkExpired):
		heading, msg = "This link has expired", "Set-password links work for a limited time, and this one has run out."
	case errors.Is(err, store.ErrNotFound):
		heading, msg = "This link does not work", "The link is not complete, was replaced by a newer one, or its account can no longer sign in."
		status = http.StatusNotFound
	default:
		return err
	}
	headers(w)
	w.WriteHeader(status)
	return p.Templates.SetPassword(w, templates.SetPasswordPage{
		Page:  templates.Page{RequestID: web.RequestID(r.Context()), Title: heading},
		State: templates.SetPasswordInvalid, Heading: heading, Message: msg, SignInURL: signInURL,
	})
}

// headers: the page is never cached, and the link (in its address) is
// never sent on as a Referer.
func headers(w http.ResponseWriter) {
	web.PageHeaders(w, "")
	w.Header().Set("Referrer-Policy", "no-referrer")
}
