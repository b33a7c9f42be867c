package idp

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// routes is the one route table: each domain mounts its routes into it,
// in the order a sign-in meets them. Every URL of the provider is listed
// in TestRoutes (routes_test.go).
//
//	idp/oauth    discovery, JWKS, /oauth2/auth (+ /resume), /consent, PAR, token, revoke, introspect, userinfo
//	idp/signin   /login, /login/code, /login/recovery, /enroll, /enroll/recovery-key(.txt), /enroll/verify
//	idp/account  /account and its actions
//	idp/admin    /admin, its actions, and the JSON API under /admin/api/
//	idp/logout   /logout (end_session_endpoint), /logout/confirm
//	idp/passwordlink  /set-password (a one-time set-password link)
//	here         /health/alive, /health/ready, /static/
//
// Protocol endpoints take GET and/or POST as the specs say; page forms are
// guarded by net/http's CrossOriginProtection (web.Router.Form). A wrong
// method gets 405 from ServeMux's method patterns.
func (s *Server) routes(domains []interface{ Mount(*web.Router) }) http.Handler {
	rt := web.NewRouter(s.pages)
	for _, d := range domains {
		d.Mount(rt)
	}
	rt.HandleFunc("GET /health/alive", s.handleAlive)
	rt.HandleFunc("GET /health/ready", s.handleReady)
	rt.Handle("GET /static/", http.StripPrefix("/static/", s.staticHandler(templates.Static())))
	s.patterns = rt.Patterns()
	return s.middleware(s.rateLimited(s.withNotFoundPage(rt.Mux())))
}

// withNotFoundPage serves mux, answering unknown paths with our error page;
// a known path with the wrong method keeps ServeMux's 405 and Allow header.
func (s *Server) withNotFoundPage(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			// Through the mux, which sets the {wildcards} for PathValue.
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusNotFound {
			s.pages.Render(w, r, web.ErrNotFound)
			return
		}
		allow := probe.header.Get("Allow")
		if probe.status != http.StatusMethodNotAllowed {
			s.pages.Render(w, r, &web.Error{Code: probe.status, Heading: http.StatusText(probe.status), Msg: "This request cannot be answered."})
			return
		}
		w.Header().Set("Allow", allow)
		msg := "This address does not answer " + r.Method + " requests; it answers " + allow + "."
		if protocolPath(r.URL.Path) {
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", msg)
			return
		}
		s.pages.Render(w, r, &web.Error{Code: http.StatusMethodNotAllowed, Heading: "Not allowed", Msg: msg})
	})
}

// protocolPath tells the endpoints clients call (they get OAuth error
// bodies) from the pages people see (they get the error page).
func protocolPath(p string) bool {
	switch {
	case p == "/userinfo", strings.HasPrefix(p, "/.well-known/"), strings.HasPrefix(p, "/admin/api/"):
		return true
	case strings.HasPrefix(p, "/oauth2/"):
		return p != "/oauth2/auth" && p != "/oauth2/auth/resume"
	}
	return false
}

// writeJSONError answers with an OAuth-style error body.
func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// headerProbe records what a handler would answer without sending it.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

// staticHandler serves the embedded CSS and images; they change only with
// a new binary, so browsers may cache them for a day. A missing file, or a
// directory, is the error page like any unknown address.
func (s *Server) staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
			s.pages.Render(w, r, web.ErrNotFound)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// Routes lists every route pattern the provider serves ("GET /login"), in
// the order the domains mounted them.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

func (s *Server) handleAlive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// handleReady reports whether this replica can serve: the database answers
// and its schema is the one this binary expects.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.store.Ready(r.Context()); err != nil {
		s.pages.Logger(r).Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable"}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}
