// Package idp is the composition root of the Portcullis OpenID provider:
// New builds every part once over one store (server.go), routes mounts
// the domains into the one route table (routes.go), and the middleware
// gives every request its id, security headers, limits and access line
// (middleware.go, textinput.go). It holds no sign-in logic of its own.
//
// # Where things are
//
//	idp/oauth        the protocol: fosite wired by hand, /oauth2/auth and its decision,
//	                 consent, token, revoke, introspect, PAR, userinfo, discovery, JWKS
//	idp/signin       the sign-in pages: password, code, recovery key, enrollment
//	idp/account      the user's own page (/account)
//	idp/admin        the tenant admin page (/admin) and its JSON API (/admin/api/)
//	idp/logout       RP-initiated logout and the back-channel logout worker
//	idp/passwordlink the page of a one-time set-password link (/set-password)
//	idp/flow         the pending sign-in request: kinds, stages, transitions, NextFactor
//	idp/credentials  password, code and recovery-key checks under the attempt limits
//	idp/browser      the cookie, the browser's session, audit stamping
//	idp/signing      signing keys, JWKS, id_token_hint verification
//	idp/claims       scopes, acr/amr, which claims a scope releases
//	idp/web          the page adapter, the route table, request helpers
//	idp/secrets      argon2id, client-secret digests, the at-rest cipher, tokens
//	idp/audit        the catalogue of audit events
//	idp/store        every table, fosite's storage, the conformance suite (storetest)
//	mfa              TOTP, the replay guard, attempt limits, recovery keys
//
// # A sign-in, request by request
//
//	GET  /oauth2/auth          oauth: fosite validates; NextFactor says "password";
//	                           a pending request is stored (flow.Start) -> /login
//	GET  /login, POST /login   signin: the password (credentials), then NextFactor
//	                           again: the code, enrollment, or signed in
//	GET|POST /login/code       signin: the code; a session starts (browser.Start),
//	                           the request moves to signed_in -> /oauth2/auth/resume
//	GET  /oauth2/auth/resume   oauth: the stored request is replayed through fosite
//	                           and decided again: consent, a step-up, or the code
//	POST /oauth2/token         oauth: fosite exchanges the code
//
// The stage diagram is in idp/flow's package documentation.
package idp
