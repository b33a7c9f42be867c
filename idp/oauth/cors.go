package oauth

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// CORS (Fetch standard) for single-page apps.
//
// Discovery and the JWKS are public: any origin may read them. The token,
// revocation and userinfo endpoints answer a page only from one of the
// web origins registered for the client the request is for (the client
// that authenticates or names itself with client_id; at userinfo, the
// access token's client). Introspection and PAR take no cross-origin
// calls: their callers hold a client secret, which has no place in a
// page. Nothing else (the pages, the admin API) sends any CORS header.
//
// A preflight names no client, so it is answered for an origin some
// client registered; the request that follows still gets its
// Access-Control-Allow-Origin only from its own client. No cookies are
// involved (Access-Control-Allow-Credentials is never sent).

const (
	corsMaxAge        = "600"
	corsAllowHeaders  = "Authorization, Content-Type"
	corsExposeHeaders = "WWW-Authenticate"
)

// corsMethods are the methods each endpoint that takes cross-origin calls
// answers to pages.
var corsMethods = map[string][]string{
	pathToken:    {http.MethodPost},
	pathRevoke:   {http.MethodPost},
	pathUserinfo: {http.MethodGet, http.MethodPost},
}

// publicPreflight answers a preflight for discovery and the JWKS: any
// origin, GET.
func publicPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Header.Get("Origin") != "" {
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET")
		h.Set("Access-Control-Max-Age", corsMaxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// preflight answers a preflight for a client endpoint: the CORS headers
// when the origin is registered for some client and asks for a method
// the endpoint takes; otherwise none (the browser then refuses the call).
func (e *Endpoints) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	methods := corsMethods[r.URL.Path]
	ok, err := e.Store.OriginRegistered(r.Context(), origin)
	if err != nil {
		e.Pages.Logger(r).Error("cors preflight", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if !ok || !slices.Contains(methods, r.Header.Get("Access-Control-Request-Method")) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// allowOrigin lets the page of the request's origin read the response
// when c registered it.
func allowOrigin(w http.ResponseWriter, r *http.Request, c *store.Client) {
	origin := r.Header.Get("Origin")
	if c == nil || !c.AllowsOrigin(origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// clientCORS lets the page of a registered origin read the answers of the
// token and revocation endpoints, for the client the request authenticates
// as (HTTP Basic) or names (client_id in the form).
func (e *Endpoints) clientCORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if r.Header.Get("Origin") != "" {
			if c := e.requestClient(r); c != nil {
				allowOrigin(w, r, c)
			}
		}
		h(w, r)
	}
}

// requestClient is the client a token or revocation request is for, or
// nil: the Basic user name, else the form's single client_id.
func (e *Endpoints) requestClient(r *http.Request) *store.Client {
	id, _, ok := r.BasicAuth()
	if ok {
		if unescaped, err := url.QueryUnescape(id); err == nil {
			id = unescaped
		}
	} else {
		if r.ParseForm() != nil || len(r.PostForm["client_id"]) != 1 {
			return nil
		}
		id = r.PostForm.Get("client_id")
	}
	if id == "" {
		return nil
	}
	c, err := e.Store.ClientByID(r.Context(), id)
	if err != nil {
		return nil
	}
	return c
}
