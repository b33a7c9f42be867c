// Package web holds what every Portcullis HTTP surface shares (the
// provider and the demo relying app): the error a page handler returns and
// the error page it becomes. Handlers return errors; one adapter per
// surface logs the detail and shows the user only Heading and Msg.
package web

import (
	"errors"
	"net/http"

	"github.com/portcullis-idp/portcullis/templates"
)

// Error is what a page handler returns to show an error page: Heading and
// Msg are safe to show, Err is logged only.
type Error struct {
	Code    int
	Heading string
	Msg     string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns the *Error in err's chain, or a copy of fallback that
// wraps err (so an unexpected error never shows its text to the user).
func AsError(err error, fallback *Error) *Error {
	if he, ok := errors.AsType[*Error](err); ok {
		return he
	}
	wrapped := *fallback
	wrapped.Err = err
	return &wrapped
}

// WriteErrorPage answers with e as an HTML error page carrying reference
// (the request id the log line also has). Pages are never cached.
func WriteErrorPage(w http.ResponseWriter, tpl *templates.Templates, reference string, e *Error) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if e.Code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1") // the pool reconnects by itself
	}
	w.WriteHeader(e.Code)
	return tpl.Error(w, templates.ErrorPage{
		Page:    templates.Page{Title: e.Heading, RequestID: reference},
		Status:  e.Code,
		Heading: e.Heading,
		Message: e.Msg,
	})
}
