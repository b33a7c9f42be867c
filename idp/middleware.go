package idp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
)

type ctxKey int

const requestIDKey ctxKey = iota

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestID returns the id of the request being served.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// logger returns the server's logger with the request id of ctx, if any.
// It is built when a handler logs, not for every request: most requests
// log only their access line, which the middleware writes itself.
func (s *Server) logger(ctx context.Context) *slog.Logger {
	if id := RequestID(ctx); id != "" {
		return s.log.With("request_id", id)
	}
	return s.log
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// middleware gives every request an id (in the log, the X-Request-Id header
// and error pages), the baseline security headers, a size limit on bodies,
// panic recovery that never shows a stack trace, and one access-log line.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = store.WithRequestCache(ctx)
		r = r.WithContext(ctx)

		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)

		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.logger(ctx).Error("panic", "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					s.renderError(rec, r, errInternal)
				}
			}
			level := slog.LevelInfo
			if quietPath(r.URL.Path) && rec.status < 400 {
				level = slog.LevelDebug
			}
			s.log.LogAttrs(ctx, level, "request", slog.String("request_id", id),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int64("duration_ms", time.Since(start).Milliseconds()))
		}()
		if problem := checkRequestText(r); problem != "" {
			s.refuseUnusableText(rec, r, problem)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// quietPath tells the paths whose successful answers are logged at debug
// level: health checks, stylesheets, and the discovery document and JWKS,
// which every relying app and load balancer polls. They are public and the
// same for everyone; at info level they would bury the lines that matter
// (and writing them is a tenth of what serving them costs).
func quietPath(path string) bool {
	return strings.HasPrefix(path, "/health/") || strings.HasPrefix(path, "/static/") ||
		strings.HasPrefix(path, "/.well-known/")
}

// pageHeaders are set on every HTML page we render: pages may show
// secrets or personal data and must never be cached or framed.
func pageHeaders(w http.ResponseWriter, nonce string) {
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

// clientIP is the peer address (a reverse proxy's X-Forwarded-For is not
// trusted by default).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
