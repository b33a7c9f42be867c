package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/portcullis-idp/portcullis/templates"
)

// Messages every surface shares.
var (
	ErrInternal = &Error{Code: http.StatusInternalServerError, Heading: "Something went wrong",
		Msg: "We could not complete your request. Please try again; if it keeps happening, contact support with the reference below."}
	ErrNotFound = &Error{Code: http.StatusNotFound, Heading: "Page not found",
		Msg: "There is nothing at this address."}
	// ErrBusy is the answer when password checks are queued beyond the
	// admission gate (idp/throttle): the server sheds load rather than
	// running out of memory.
	ErrBusy = &Error{Code: http.StatusServiceUnavailable, Heading: "Busy",
		Msg: "Portcullis is busy right now. Try again in a moment.", RetryAfter: 2 * time.Second}
	// ErrUnavailable is the page for a request the database could not
	// serve (Unavailable wraps it): 503, sent with Retry-After.
	ErrUnavailable = &Error{Code: http.StatusServiceUnavailable, Heading: "Briefly unavailable",
		Msg: "The sign-in service is briefly unavailable. Nothing is wrong with your request or the application; please try again in a moment."}
	ErrRequestExpired = &Error{Code: http.StatusBadRequest, Heading: "Sign-in expired",
		Msg:  "This sign-in request has expired or was already completed. Go back to the application and start again.",
		Back: LinkStart}
	// ErrRequestAtOtherStep is ErrRequestExpired for a sign-in that goes
	// on at another step; its Back is that step's page.
	ErrRequestAtOtherStep = &Error{Code: http.StatusBadRequest, Heading: "This step is not current",
		Msg: "Your sign-in is at another step now (the Back button can show a page that is out of date). Continue from there."}
)

// Ways back an error page offers.
var (
	// LinkStart is the start page, which says what this server is and
	// leads to the account page.
	LinkStart = Link{URL: "/", Label: "Go to the start page"}
)

// Unavailable is ErrUnavailable for err, the storage failure (logged only).
func Unavailable(err error) *Error {
	e := *ErrUnavailable
	e.Err = err
	return &e
}

// BadRequest is a 400 page with msg.
func BadRequest(msg string) *Error {
	return &Error{Code: http.StatusBadRequest, Heading: "Invalid request", Msg: msg}
}

// PageFunc is a page handler: it writes the page, or returns the error
// the user is shown instead.
type PageFunc func(http.ResponseWriter, *http.Request) error

// Pages is the one adapter from a handler's error to what the user sees,
// shared by the provider and the demo app: the user gets a calm page with
// a reference, the log gets the detail, and nothing else (a stack trace
// included) ever reaches the browser.
type Pages struct {
	Templates *templates.Templates
	Log       *slog.Logger
	// Fallback is shown for an error that is not an *Error; nil means
	// ErrInternal.
	Fallback *Error
	// LogPrefix starts each log message ("" for the provider).
	LogPrefix string
	// Known maps errors that are not *Error (sentinels of the packages
	// below the pages, such as an expired pending request) to the page
	// they are; nil maps nothing.
	Known func(error) *Error
	// Back chooses the way back of an error that names none; nil offers
	// none.
	Back func(*http.Request, *Error) Link
}

// Logger is the log with the request id of r, if any.
func (p *Pages) Logger(r *http.Request) *slog.Logger {
	if id := RequestID(r.Context()); id != "" {
		return p.Log.With("request_id", id)
	}
	return p.Log
}

// Handler adapts h.
func (p *Pages) Handler(h PageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				p.Render(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		if err := h(w, r); err != nil {
			p.Render(w, r, err)
		}
	})
}

// Render logs err and answers with its error page. The reference is the
// request id, or a new one where no middleware gave the request an id.
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, err error) {
	fallback := p.Fallback
	if fallback == nil {
		fallback = ErrInternal
	}
	if p.Known != nil {
		if known := p.Known(err); known != nil {
			page := *known
			page.Err = err
			err = &page
		}
	}
	he := AsError(err, fallback)
	ref := RequestID(r.Context())
	log := p.Logger(r)
	if ref == "" {
		ref = NewRequestID()
		log = log.With("reference", ref)
	}
	if he.Code >= 500 {
		log.Error(p.LogPrefix+"request failed", "path", r.URL.Path, "err", err)
	} else {
		log.Info(p.LogPrefix+"request refused", "path", r.URL.Path, "status", he.Code, "reason", he.Error())
	}
	if he.Back == (Link{}) && p.Back != nil {
		withBack := *he
		withBack.Back = p.Back(r, he)
		he = &withBack
	}
	PageHeaders(w, "")
	if err := WriteErrorPage(w, p.Templates, ref, he); err != nil {
		log.Error(p.LogPrefix+"error page failed", "err", err)
	}
}
