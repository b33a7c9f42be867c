package idp

import (
	"io/fs"
	"net/http"

	"github.com/portcullis-idp/portcullis/templates"
)

// Handler returns every route of the provider, in one table.
//
// Protocol endpoints take GET and/or POST as the specs say; page forms are
// guarded by net/http's CrossOriginProtection (Sec-Fetch-Site / Origin
// checks). A wrong method gets 405 from ServeMux's method patterns.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	csrf := http.NewCrossOriginProtection()
	form := func(h http.Handler) http.Handler { return csrf.Handler(h) }

	// Discovery and keys, served from memory.
	mux.HandleFunc("GET /.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)

	// OAuth 2.0 / OpenID Connect protocol endpoints.
	mux.HandleFunc("GET /oauth2/auth", s.handleAuthorize)
	mux.HandleFunc("POST /oauth2/auth", s.handleAuthorize)
	mux.HandleFunc("POST /oauth2/par", s.handlePAR)
	mux.HandleFunc("POST /oauth2/token", s.handleToken)
	mux.HandleFunc("POST /oauth2/revoke", s.handleRevoke)
	mux.HandleFunc("POST /oauth2/introspect", s.handleIntrospect)
	mux.HandleFunc("GET /userinfo", s.handleUserinfo)
	mux.HandleFunc("POST /userinfo", s.handleUserinfo)

	// The sign-in flow's pages, each bound to a pending request.
	mux.Handle("GET /login", s.page(s.showLogin))
	mux.Handle("POST /login", form(s.page(s.submitLogin)))
	mux.Handle("GET /consent", s.page(s.showConsent))
	mux.Handle("POST /consent", form(s.page(s.submitConsent)))
	mux.Handle("GET /oauth2/auth/resume", s.page(s.resumeAuthorize))

	// The second factor (secondfactor.go), bound to the same pending request.
	mux.Handle("GET "+pathCode, s.page(s.showCode))
	mux.Handle("POST "+pathCode, form(s.page(s.submitCode)))
	mux.Handle("GET "+pathRecovery, s.page(s.showRecovery))
	mux.Handle("POST "+pathRecovery, form(s.page(s.submitRecovery)))
	mux.Handle("GET "+pathEnroll, s.page(s.showEnroll))
	mux.Handle("POST "+pathEnroll, form(s.page(s.submitEnroll)))
	mux.Handle("GET "+pathEnrollKey, s.page(s.showEnrollKey))
	mux.Handle("POST "+pathEnrollKey, form(s.page(s.submitEnrollKey)))
	mux.Handle("GET "+pathEnrollKeyFile, s.page(s.downloadEnrollKey))
	mux.Handle("GET "+pathEnrollVerify, s.page(s.showEnrollVerify))
	mux.Handle("POST "+pathEnrollVerify, form(s.page(s.submitEnrollVerify)))

	// RP-initiated logout: the relying app's GET or cross-site POST is the
	// protocol, so it is not origin-checked; the confirmation form is.
	mux.Handle("GET "+pathEndSession, s.page(s.handleEndSession))
	mux.Handle("POST "+pathEndSession, s.page(s.handleEndSession))
	mux.Handle("POST "+pathLogoutConfirm, form(s.page(s.confirmLogout)))

	// The user's own account page (account.go).
	mux.Handle("GET "+pathAccount, s.page(s.showAccount))
	mux.Handle("POST "+pathAccountActivate, form(s.page(s.accountAction(s.activate2FA))))
	mux.Handle("POST "+pathAccountDeactivate, form(s.page(s.accountAction(s.deactivate2FA))))
	mux.Handle("POST "+pathAccountRecoveryKey, form(s.page(s.accountAction(s.newRecoveryKey))))
	mux.Handle("POST "+pathAccountEndSession, form(s.page(s.accountAction(s.endAccountSession))))
	mux.Handle("POST "+pathAccountEndOthers, form(s.page(s.accountAction(s.endOtherSessions))))
	mux.Handle("POST "+pathAccountPassword, form(s.page(s.accountAction(s.changePassword))))

	// The tenant admin page (admin.go) and its JSON API (admin_api.go). The
	// API authenticates with a bearer token, not the cookie, so it is not
	// origin-checked.
	mux.Handle("GET "+pathAdmin, s.page(s.showAdmin))
	mux.Handle("POST "+pathAdminRequireTFA, form(s.page(s.adminAction(s.submitRequireTFA))))
	mux.Handle("POST "+pathAdminUserReset, form(s.page(s.adminAction(s.submitResetUser2FA))))
	mux.Handle("POST "+pathAdminUserEnd, form(s.page(s.adminAction(s.submitEndUserSessions))))
	mux.Handle("GET "+pathAdminAPITenant, s.adminAPI(s.apiGetTenant))
	mux.Handle("PUT "+pathAdminAPIRequireTFA, s.adminAPI(s.apiSetRequireTFA))
	mux.Handle("POST "+pathAdminAPIRequireTFA, s.adminAPI(s.apiSetRequireTFA))
	mux.Handle("GET "+pathAdminAPIUsers, s.adminAPI(s.apiListUsers))
	mux.Handle("POST "+pathAdminAPIUserReset, s.adminAPI(s.apiResetUser2FA))
	mux.Handle("POST "+pathAdminAPIUserEnd, s.adminAPI(s.apiEndUserSessions))
	mux.Handle("GET "+pathAdminAPIAudit, s.adminAPI(s.apiListAudit))
	mux.Handle("GET "+pathAdminAPILogouts, s.adminAPI(s.apiListLogoutDeliveries))

	// Operations.
	mux.HandleFunc("GET /health/alive", s.handleAlive)
	mux.HandleFunc("GET /health/ready", s.handleReady)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(templates.Static())))

	return s.middleware(s.withNotFoundPage(mux))
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
			s.renderError(w, r, errNotFound)
			return
		}
		for k, v := range probe.header {
			w.Header()[k] = v
		}
		w.WriteHeader(probe.status)
		_, _ = w.Write([]byte(http.StatusText(probe.status) + "\n"))
	})
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
// a new binary, so browsers may cache them for a day.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
