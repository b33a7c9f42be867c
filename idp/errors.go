package idp

import (
	"errors"
	"net/http"

	"github.com/portcullis-idp/portcullis/templates"
)

// httpError is what a page handler returns to show the user an error page:
// Msg is safe to show, Err is logged only.
type httpError struct {
	Code    int
	Heading string
	Msg     string
	Err     error
}

func (e *httpError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *httpError) Unwrap() error { return e.Err }

// User-facing messages, kept in one place.
var (
	errInternal = &httpError{Code: http.StatusInternalServerError, Heading: "Something went wrong",
		Msg: "We could not complete your request. Please try again; if it keeps happening, contact support with the reference below."}
	errNotFound = &httpError{Code: http.StatusNotFound, Heading: "Page not found",
		Msg: "There is nothing at this address."}
	errRequestExpired = &httpError{Code: http.StatusBadRequest, Heading: "Sign-in expired",
		Msg: "This sign-in request has expired or was already completed. Go back to the application and start again."}
)

func badRequest(msg string) *httpError {
	return &httpError{Code: http.StatusBadRequest, Heading: "Invalid request", Msg: msg}
}

// page adapts a handler that returns an error: the user gets a calm error
// page with a reference, the log gets the detail.
func (s *Server) page(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.renderError(w, r, err)
		}
	})
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{Code: errInternal.Code, Heading: errInternal.Heading, Msg: errInternal.Msg, Err: err}
	}
	log := s.logger(r.Context())
	if he.Code >= 500 {
		log.Error("request failed", "err", err)
	} else {
		log.Info("request refused", "status", he.Code, "reason", he.Error())
	}
	pageHeaders(w, "")
	w.WriteHeader(he.Code)
	_ = s.tpl.Error(w, templates.ErrorPage{
		Page:    templates.Page{Title: he.Heading, RequestID: RequestID(r.Context())},
		Status:  he.Code,
		Heading: he.Heading,
		Message: he.Msg,
	})
}
