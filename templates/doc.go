// Package templates holds Portcullis's HTML pages and static assets,
// embedded in the binary.
//
// Layout:
//
//	layout.html        the document shell ("layout": header, main card, footer)
//	                   and shared partials: "auth-request", "alert",
//	                   "code-input", "steps"
//	<page>.html        one file per page; each defines "content" and may
//	                   redefine "width" (narrow | medium | wide) and "brand"
//	static/            portcullis.css and favicon.svg, served at /static/
//
// Load parses everything once at start and fails if a page is missing, so a
// broken template stops the process instead of a user's sign-in. Each page
// has one typed method (Templates.Login, Templates.TOTPChallenge, ...) that
// renders into a buffer first: on a template error nothing reaches the
// writer and the caller's error adapter decides what the user sees.
//
// Pages carry no inline styles and no inline scripts, so they work under
// a CSP of "default-src 'self'; img-src 'self' data:". The one exception is
// FormPost, whose auto-submit script carries Page.CSPNonce. Pages that show
// a secret (EnrollScan, EnrollRecoveryKey, RecoveryKeyIssued) should be sent
// with Cache-Control: no-store.
package templates
