package idp

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
)

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
		id := web.NewRequestID()
		ctx := web.WithRequestID(r.Context(), id)
		ctx = store.WithRequestCache(ctx)
		ctx = browser.Remember(ctx)
		ctx = web.WithClientAddr(ctx, s.proxies.ClientAddr(r))
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
				s.opts.Logger.Error("panic", "request_id", id, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					s.pages.Render(rec, r, web.ErrInternal)
				}
			}
			level := slog.LevelInfo
			if quietPath(r.URL.Path) && rec.status < 400 {
				level = slog.LevelDebug
			}
			took := time.Since(start)
			s.opts.Logger.LogAttrs(ctx, level, "request", slog.String("request_id", id),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int64("duration_ms", took.Milliseconds()))
			if m := s.opts.Metrics; m != nil {
				// r.Pattern is the route the mux matched ("" when none),
				// never the raw path.
				m.Request(r.Pattern, rec.status, took)
				if r.Pattern == "POST /oauth2/token" && rec.status == http.StatusOK {
					m.TokenIssued(r.PostForm.Get("grant_type"))
				}
			}
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
