package oauth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
)

// registeredErrors are the error codes of RFC 6749, RFC 7009, RFC 7662,
// RFC 9126 and OpenID Connect Core. fosite has a few of its own (such as
// invalid_state); those go out as invalid_request.
var registeredErrors = map[string]bool{
	"invalid_request": true, "unauthorized_client": true, "access_denied": true,
	"unsupported_response_type": true, "invalid_scope": true, "server_error": true,
	"temporarily_unavailable": true, "invalid_client": true, "invalid_grant": true,
	"unsupported_grant_type": true, "interaction_required": true, "login_required": true,
	"account_selection_required": true, "consent_required": true, "invalid_request_uri": true,
	"invalid_request_object": true, "request_not_supported": true, "request_uri_not_supported": true,
	"registration_not_supported": true, "unsupported_token_type": true, "invalid_token": true,
	"insufficient_scope": true,
}

// retryAfter is the Retry-After (seconds) of every answer to a storage
// failure: the pool reconnects by itself within about a second of the
// database being back.
const retryAfter = "1"

// errUnavailable is the answer to a request the database could not serve:
// server_error with 503 at the back-channel endpoints (RFC 6749 §5.2 has
// no code for an outage there; temporarily_unavailable is for the
// authorization redirect).
var errUnavailable = func() *fosite.RFC6749Error {
	e := *fosite.ErrServerError
	e.CodeField = http.StatusServiceUnavailable
	e.DescriptionField = "The service is temporarily unavailable. Try again in a moment."
	return &e
}()

// Unavailable reports whether err is a storage failure (store.ErrUnavailable
// anywhere in its chain, fosite's wrapping included) rather than something
// about the request.
func Unavailable(err error) bool { return store.IsUnavailable(err) }

// Normalize turns any error into a registered RFC 6749 error. A storage
// failure is server_error with 503 whatever fosite made of it: fosite
// answers any error of a client lookup with invalid_client, but keeps the
// store's error as the cause, and the store marks an outage
// store.ErrUnavailable.
func Normalize(err error) *fosite.RFC6749Error {
	if Unavailable(err) {
		return errUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if !registeredErrors[rfc.ErrorField] {
		c := *rfc
		c.ErrorField = fosite.ErrInvalidRequest.ErrorField
		c.CodeField = http.StatusBadRequest
		rfc = &c
	}
	return rfc
}

// What a browser is told when the request cannot go back to the app.
const (
	msgUnknownClient = "The application that sent you here is not registered with this sign-in service " +
		"(unknown client_id). Contact the application's owner."
	msgUnregisteredRedirect = "The application that sent you here asked to send you back to an address it has not " +
		"registered (redirect_uri), so you were not sent anywhere. Contact the application's owner."
)

// refusal is an authorization request refused. The authorization flow
// returns it like any page error; refusals answers it.
type refusal struct {
	ar  fosite.AuthorizeRequester // nil when fosite could not parse the request
	err error
}

func (r *refusal) Error() string { return "authorization refused: " + r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(ar fosite.AuthorizeRequester, err error) error { return &refusal{ar: ar, err: err} }

// refusals is the one adapter of the authorization flow: a refusal goes
// back to the client only when its redirect URI was validated, otherwise
// to an HTML error page (never JSON to a browser, never an open
// redirect); any other error is a page error.
func (e *Endpoints) refusals(h web.PageFunc) web.PageFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		var rf *refusal
		if !errors.As(err, &rf) {
			return err
		}
		rfc := Normalize(rf.err)
		ar := rf.ar
		if Unavailable(rf.err) {
			// Not the client's fault nor the user's: the redirect, when
			// there is a verified one, says temporarily_unavailable; the
			// page says so in words.
			if ar == nil || !ar.IsRedirectURIValid() {
				return web.Unavailable(rf.err)
			}
			e.Pages.Logger(r).Error("authorization failed: storage unavailable", "err", rf.err)
			c := *rfc
			c.ErrorField, c.DescriptionField = "temporarily_unavailable", "The service is temporarily unavailable. Try again in a moment."
			rfc = &c
			w.Header().Set("Retry-After", retryAfter)
		} else {
			e.Pages.Logger(r).Info("authorization refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
		}
		if ar == nil || !ar.IsRedirectURIValid() {
			msg := rfc.GetDescription()
			switch {
			case rfc.ErrorField == "invalid_client":
				msg = msgUnknownClient
			case rfc.ErrorField == "invalid_request" && strings.Contains(rfc.HintField, "redirect_uri"):
				msg = msgUnregisteredRedirect
			}
			return &web.Error{Code: http.StatusBadRequest, Heading: "This sign-in link is not valid", Msg: msg, Err: rf.err}
		}
		// The error goes back with the registered code, the state and,
		// as every authorization response, iss (RFC 9207).
		params := url.Values{"error": {rfc.ErrorField}, "error_description": {rfc.GetDescription()}, "iss": {e.Issuer}}
		if st := ar.GetState(); st != "" {
			params.Set("state", st)
		}
		target := *ar.GetRedirectURI()
		if ar.GetResponseMode() == fosite.ResponseModeFormPost {
			e.renderFormPost(w, r, target.String(), params)
			return nil
		}
		// Query mode, the only other one: the redirect URI keeps its own
		// query parameters (RFC 6749 §3.1.2) and never a fragment.
		q := target.Query()
		for k, v := range params {
			q[k] = v
		}
		target.RawQuery, target.Fragment = q.Encode(), ""
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("Location", target.String())
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
}

// writeAccessError answers a back-channel request (token, PAR, and the
// failures of revocation and introspection) with a registered error; a
// storage failure is 503 server_error with Retry-After, logged at ERROR
// with the request id, and other refusals are logged at INFO. The log
// gets fosite's debug text, which never holds a credential.
func (e *Endpoints) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, what string, err error) {
	rfc := e.normalizeLogged(w, r, what, err)
	e.Provider.WriteAccessError(r.Context(), w, ar, rfc)
}

// normalizeLogged is Normalize with the log line and, for a storage
// failure, the Retry-After header.
func (e *Endpoints) normalizeLogged(w http.ResponseWriter, r *http.Request, what string, err error) *fosite.RFC6749Error {
	rfc := Normalize(err)
	if rfc.CodeField == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
		e.Pages.Logger(r).Error(what+" failed: storage unavailable", "err", err)
	} else {
		e.Pages.Logger(r).Info(what+" refused", "error", rfc.ErrorField, "debug", rfc.DebugField)
	}
	return rfc
}
