package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

type ctxKey int

const requestIDKey ctxKey = iota

// NewRequestID is a short random id that links a response (its
// X-Request-Id header, an error page's reference) to its log lines.
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ScriptNonce is a fresh nonce for the scripts of one page: PageHeaders
// puts it in the page's Content-Security-Policy, and the page's script
// tags carry it. 128 random bits: a script injected into the page cannot
// guess it.
func ScriptNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ScriptPage starts a page with scripts: the page headers with a fresh
// nonce (ScriptNonce), then status. The page's script tags carry the
// nonce it returns.
func ScriptPage(w http.ResponseWriter, status int) string {
	nonce := ScriptNonce()
	PageHeaders(w, nonce)
	w.WriteHeader(status)
	return nonce
}

// PageHeaders are set on every HTML page: pages may show secrets or
// personal data and must never be cached or framed. A nonce allows the
// page's scripts (their tags carry it); no other script runs.
func PageHeaders(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	csp := "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
	if nonce != "" {
		csp += "; script-src 'nonce-" + nonce + "'"
	}
	h.Set("Content-Security-Policy", csp)
}

// Truncate returns v as valid UTF-8 of at most n bytes, cut at a
// character boundary: it is what Portcullis stores of free text it does
// not control (user agents, error details), and PostgreSQL refuses text
// that is not UTF-8.
func Truncate(v string, n int) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) <= n {
		return v
	}
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}

// UserAgent is the request's User-Agent as Portcullis stores it.
func UserAgent(r *http.Request) string { return Truncate(r.UserAgent(), 300) }

// DuplicateParam reports the first query or form parameter sent more than
// once (RFC 6749 §3.1: "Request and response parameters MUST NOT be
// included more than once").
func DuplicateParam(r *http.Request) string {
	if err := r.ParseForm(); err != nil {
		return "(unparseable body)"
	}
	for _, vals := range []map[string][]string{r.URL.Query(), r.PostForm} {
		for k, v := range vals {
			if len(v) > 1 {
				return k
			}
		}
	}
	return ""
}

// FormatTime is how the account and admin pages show a time.
func FormatTime(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") }

// FormatDate is a day as pages show it: "2 Jan 2006" (UTC).
func FormatDate(t time.Time) string { return t.UTC().Format("2 Jan 2006") }
