package idp

import (
	"net/http"

	"github.com/portcullis-idp/portcullis/idp/web"
)

// httpError is the page error every handler returns (see package web).
type httpError = web.Error

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
	he := web.AsError(err, errInternal)
	log := s.logger(r.Context())
	if he.Code >= 500 {
		log.Error("request failed", "err", err)
	} else {
		log.Info("request refused", "status", he.Code, "reason", he.Error())
	}
	pageHeaders(w, "")
	if err := web.WriteErrorPage(w, s.tpl, RequestID(r.Context()), he); err != nil {
		log.Error("error page failed", "err", err)
	}
}
