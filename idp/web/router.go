package web

import (
	"net/http"
	"slices"
)

// Router is the one route table every domain mounts into: each domain's
// Mount adds its routes with the adapter that fits them, so a handler
// never chooses its own error answers or CSRF protection.
type Router struct {
	mux      *http.ServeMux
	pages    *Pages
	csrf     *http.CrossOriginProtection
	patterns []string
}

// NewRouter returns an empty table whose pages answer errors through pages.
func NewRouter(pages *Pages) *Router {
	return &Router{mux: http.NewServeMux(), pages: pages, csrf: http.NewCrossOriginProtection()}
}

// Page mounts a page (or a protocol request a browser makes, such as a
// relying app's logout GET): errors become the error page.
func (rt *Router) Page(pattern string, h PageFunc) { rt.handle(pattern, rt.pages.Handler(h)) }

// Form mounts a form POST of our own pages: like Page, and refused when
// the browser says it comes from another site (net/http's
// CrossOriginProtection, Sec-Fetch-Site / Origin).
func (rt *Router) Form(pattern string, h PageFunc) {
	rt.handle(pattern, rt.csrf.Handler(rt.pages.Handler(h)))
}

// Handle mounts an endpoint that writes its own answers (protocol
// endpoints with OAuth error bodies, JSON APIs, static files).
func (rt *Router) Handle(pattern string, h http.Handler) { rt.handle(pattern, h) }

// HandleFunc is Handle for a function.
func (rt *Router) HandleFunc(pattern string, h http.HandlerFunc) { rt.handle(pattern, h) }

func (rt *Router) handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, h)
	rt.patterns = append(rt.patterns, pattern)
}

// Patterns lists every route mounted, in mounting order.
func (rt *Router) Patterns() []string { return slices.Clone(rt.patterns) }

// Mux is the table, for serving.
func (rt *Router) Mux() *http.ServeMux { return rt.mux }
