// Package web holds what every Portcullis HTTP surface shares (the
// provider and the demo relying app): the error a page handler returns and
// the error page it becomes. Handlers return errors; one adapter per
// surface logs the detail and shows the user only Heading and Msg.
package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis-idp/portcullis/templates"
)

// Error is what a page handler returns to show an error page: Heading and
// Msg are safe to show, Err is logged only.
type Error struct {
	Code    int
	Heading string
	Msg     string
	Err     error
	// RetryAfter, when set, is sent as Retry-After (429 and 503 answers).
	RetryAfter time.Duration
	// Back is the way on the page offers (a link); when it is empty, the
	// adapter's Back chooses one.
	Back Link
}

// Link is a way back an error page offers: where to, and what it says.
type Link struct {
	URL   string
	Label string
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
	retry := e.RetryAfter
	if retry == 0 && e.Code == http.StatusServiceUnavailable {
		retry = time.Second // the pool reconnects by itself
	}
	if retry > 0 {
		SetRetryAfter(w, retry)
	}
	w.WriteHeader(e.Code)
	return tpl.Error(w, templates.ErrorPage{
		Page:    templates.Page{Title: e.Heading, RequestID: reference},
		Status:  e.Code,
		Heading: e.Heading,
		Message: e.Msg,
		BackURL: e.Back.URL, BackLabel: e.Back.Label,
	})
}

// SetRetryAfter sets the Retry-After header to d in whole seconds, at
// least one.
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}

// TooManyRequests is the 429 page for a rate limit, telling when to try
// again.
func TooManyRequests(retry time.Duration) *Error {
	return &Error{Code: http.StatusTooManyRequests, Heading: "Too many requests",
		Msg: "Too many requests from your network. Try again in " + WaitText(retry) + ".", RetryAfter: retry}
}

// WaitText says how long d is the way a person reads it: "5 seconds",
// "1 minute", "12 minutes".
func WaitText(d time.Duration) string {
	if d < 50*time.Second {
		secs := max(1, int(math.Ceil(d.Seconds())))
		if secs == 1 {
			return "1 second"
		}
		return strconv.Itoa(secs) + " seconds"
	}
	mins := int((d + time.Minute - 1) / time.Minute)
	if mins == 1 {
		return "1 minute"
	}
	return strconv.Itoa(mins) + " minutes"
}
