// Package flow owns the pending sign-in request: the one row
// (store.AuthRequest) that carries a browser from "an app sent you here"
// (or "open your account page") to "you are signed in", through the
// password, the second factor or its enrollment, and consent.
//
// # Kinds
//
// A pending request serves one of three flows (Kind):
//
//   - KindAuthorize: a relying app's authorization request. It starts at
//     GET /oauth2/auth, and once the user is signed in it resumes at
//     GET /oauth2/auth/resume, where the authorization endpoint decides
//     again (consent, or the code back to the app).
//   - KindAccount: a sign-in or enrollment for Portcullis' own pages
//     (/account, /admin). It ends by going back to that page.
//   - KindLogout: an RP-initiated logout waiting for the user's "yes".
//
// # Stages
//
// Where a request stands is its Stage; every page of the sign-in loads the
// request at the stages it serves (Load) and moves it on (Advance) with a
// compare-and-swap in the database, so a step cannot be skipped by posting
// to a later page, nor replayed, and of two racing tabs one wins.
//
//	                    password ok,            code ok / recovery key
//	    ┌───────┐   has authenticator ┌──────┐   (no MFA needed after it)
//	──► │ login │ ──────────────────► │ code │ ───────────────┐
//	    └───────┘                     └──────┘                │
//	       │  │ no authenticator, MFA     │ recovery key,     ▼
//	       │  │ required                  │ MFA required  ┌───────────┐ consent  ┌───────────┐
//	       │  ▼                           ▼               │ signed_in │ ───────► │ consented │
//	       │ ┌────────┐ ┌────────────┐ ┌───────────────┐  └───────────┘          └───────────┘
//	       │ │ enroll │►│ enroll_key │►│ enroll_verify │──────►▲  │ resume: the authorization
//	       │ └────────┘ └────────────┘ └───────────────┘       │  │ endpoint decides again
//	       └───────────────────────────────────────────────────┘  ▼ (step-up → code or enroll)
//	         password ok, no second factor needed            code issued: the row is deleted
//
// The table of allowed moves is transitions (flow.go); the one decision of
// what a sign-in needs next (password, code, enrollment, consent, done) is
// NextFactor (next.go). Each stage's page has one path (Path), so the
// route table and the redirects cannot disagree.
//
// # Who calls whom
//
// The authorization endpoint (idp/oauth) starts KindAuthorize requests and
// resumes them; the sign-in pages (idp/signin) move them through login,
// code, recovery and enrollment; the account and admin pages start
// KindAccount requests; logout starts and finishes KindLogout ones. The
// package knows nothing of HTTP beyond building a page's URL.
package flow
