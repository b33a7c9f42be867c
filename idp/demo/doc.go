// Package demo is the small relying app that `portcullis serve --dev`
// starts next to the provider, so that a new user can sign in end to end
// right away. It is a real OpenID Connect client, built on
// github.com/coreos/go-oidc/v3 and golang.org/x/oauth2, and knows nothing
// of Portcullis' internals: it talks to the provider over HTTP only, as any
// other relying app would.
//
// # Routes
//
//	GET /          start page with a "Sign in with Portcullis" link to /login
//	GET /login     new state, nonce and PKCE verifier in the flow cookie;
//	               redirect to the provider's authorization endpoint
//	GET /callback  check state, exchange the code (with the verifier),
//	               verify the ID token (signature, issuer, audience, expiry,
//	               nonce) and show its claims
//	GET /logout    clear the flow cookie, back to /
//	GET /static/   the shared CSS and icons (templates.Static)
//
// # The flow cookie
//
// Between /login and /callback the app remembers, in one short-lived
// HttpOnly cookie (flowCookie, SameSite=Lax so that it comes back on the
// provider's redirect), the three values that tie the callback to the
// browser that started the sign-in: the OAuth state (against login CSRF),
// the OpenID nonce (against ID-token replay) and the PKCE verifier (against
// code interception). The cookie is used once: /callback clears it before it
// exchanges the code.
//
// # Discovery
//
// The demo usually starts in the same process as the provider, before the
// provider answers. Discovery therefore happens on the first request that
// needs it (/login or /callback) and is retried on the next request if it
// failed.
package demo
