package demo

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// flowCookie is the cookie that carries a sign-in in progress. The provider
// usually runs on the same host, and browsers do not separate cookies by
// port, so the name says whose it is.
const flowCookie = "portcullis_demo_flow"

// flowLifetime bounds how long a user may take between /login and /callback.
const flowLifetime = 10 * time.Minute

// flow is what /callback needs to finish the sign-in /login started.
type flow struct {
	State    string // echoed by the provider; binds the callback to this browser
	Nonce    string // echoed in the ID token; binds the token to this sign-in
	Verifier string // PKCE code verifier; its S256 hash went to the provider
}

// newFlow makes fresh random values, 256 bits each.
func newFlow() flow {
	return flow{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier()}
}

// randomToken returns 32 random bytes, base64url-encoded without padding.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// encode packs f into a cookie value. The three values are base64url, so
// none contains the separator.
func (f flow) encode() string {
	return f.State + "." + f.Nonce + "." + f.Verifier
}

// decodeFlow unpacks a cookie value made by encode. A value that was not,
// or that someone edited into a different shape, is refused.
func decodeFlow(v string) (flow, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return flow{}, false
	}
	for _, p := range parts {
		if len(p) != tokenLen {
			return flow{}, false
		}
		if _, err := base64.RawURLEncoding.DecodeString(p); err != nil {
			return flow{}, false
		}
	}
	return flow{State: parts[0], Nonce: parts[1], Verifier: parts[2]}, true
}

// tokenLen is the length of 32 bytes in unpadded base64url, the size of
// every value of a flow (oauth2.GenerateVerifier makes the same).
const tokenLen = 43

// matchesState compares the callback's state with the stored one in
// constant time.
func (f flow) matchesState(state string) bool {
	return subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) == 1
}

// matchesNonce compares the ID token's nonce with the stored one in
// constant time.
func (f flow) matchesNonce(nonce string) bool {
	return subtle.ConstantTimeCompare([]byte(f.Nonce), []byte(nonce)) == 1
}

// setFlow stores f in the browser for flowLifetime.
func (a *app) setFlow(w http.ResponseWriter, f flow) {
	http.SetCookie(w, a.flowCookie(f.encode(), int(flowLifetime.Seconds())))
}

// readFlow returns the flow stored in the browser, if there is a valid one.
func (a *app) readFlow(r *http.Request) (flow, bool) {
	c, err := r.Cookie(flowCookie)
	if err != nil {
		return flow{}, false
	}
	return decodeFlow(c.Value)
}

// clearFlow removes the flow cookie.
func (a *app) clearFlow(w http.ResponseWriter) {
	http.SetCookie(w, a.flowCookie("", -1))
}

func (a *app) flowCookie(value string, maxAge int) *http.Cookie {
	return a.cookie(flowCookie, value, maxAge)
}

// cookie is every cookie the demo sets (flow, session, logout state).
func (a *app) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   a.secure,
		// Lax, not Strict: the cookie must come back on the provider's
		// top-level redirect to /callback, which is a cross-site navigation
		// when the provider lives on another site.
		SameSite: http.SameSiteLaxMode,
	}
}
