package demo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/portcullis-idp/portcullis/idp/web"
)

// httpError is the page error every handler returns (see package web).
type httpError = web.Error

// What the user sees when a sign-in cannot go on.
var (
	errFlowExpired = &httpError{Code: http.StatusBadRequest, Heading: "Sign-in expired",
		Msg: "This sign-in has expired or was already completed. Go back to the demo app and sign in again."}
	errStateMismatch = &httpError{Code: http.StatusBadRequest, Heading: "Sign-in failed",
		Msg: "This answer from the identity provider does not belong to the sign-in this browser started. Go back to the demo app and sign in again."}
	errInternal = &httpError{Code: http.StatusInternalServerError, Heading: "Something went wrong",
		Msg: "The demo app could not complete your request. Please try again."}
)

func providerUnavailable(issuer string, err error) *httpError {
	return &httpError{Code: http.StatusBadGateway, Heading: "Identity provider unavailable",
		Msg: fmt.Sprintf("The demo app could not reach the identity provider at %s. Is it running? Try again in a moment.", issuer),
		Err: err}
}

// providerRefused shows the error the provider redirected back with; both
// values come from the query string and the template escapes them.
func providerRefused(code, description string) *httpError {
	msg := "The identity provider did not sign you in (" + code + ")."
	if description != "" {
		msg += " " + description
	}
	return &httpError{Code: http.StatusBadRequest, Heading: "Sign-in not completed", Msg: msg,
		Err: errors.New("authorization error " + code)}
}

func errTokenInvalid(err error) *httpError {
	return &httpError{Code: http.StatusBadGateway, Heading: "Sign-in failed",
		Msg: "The ID token from the identity provider could not be verified, so the demo app did not sign you in.",
		Err: err}
}

// render writes a page with status once it rendered whole; a template
// error leaves w untouched, so the caller can still send an error page.
func (a *app) render(w http.ResponseWriter, status int, page func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := page(&buf); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // the claims page shows personal data
	w.WriteHeader(status)
	if _, err := buf.WriteTo(w); err != nil {
		a.log.Debug("demo app: write response", "err", err) // the browser went away
	}
	return nil
}

// securityHeaders sets the headers every response carries: no framing, no
// sniffing, no Referer (the callback URL holds the code), and a policy that
// allows only our own stylesheet and images, and forms posted to this app
// (the Sign out form) that may redirect on to the provider (issuer, its
// end_session_endpoint; browsers apply form-action to the redirect too).
func securityHeaders(issuer string, next http.Handler) http.Handler {
	formAction := "'self'"
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	csp := "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action " + formAction
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", csp)
		next.ServeHTTP(w, r)
	})
}
