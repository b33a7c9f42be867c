// Package claims is the vocabulary a sign-in is described in to relying
// apps: the scopes Portcullis knows, the authentication levels (acr) and
// methods (amr) it issues, which user claims a scope or a claims request
// releases, the parsed `claims` parameter, and the redirect URI schemes no
// client may register. It has no HTTP and no storage of its own, so the CLI
// and every domain can use it.
package claims

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// Scopes Portcullis knows. Clients may be allowed a subset.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeAddress       = "address"
	ScopePhone         = "phone"
	ScopeOfflineAccess = "offline_access"
	ScopeAdmin         = "portcullis:admin"
)

// SupportedScopes is the default for new clients. It leaves ScopeAdmin out
// on purpose: a client may ask for that scope only when it was registered
// with it explicitly (fosite enforces the client's scopes).
var SupportedScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeAddress, ScopePhone, ScopeOfflineAccess}

// AdvertisedScopes is every scope Portcullis knows, for discovery's
// scopes_supported: SupportedScopes and ScopeAdmin.
var AdvertisedScopes = append(slices.Clone(SupportedScopes), ScopeAdmin)

// Authentication context classes Portcullis issues in `acr`.
const (
	ACRPassword = "urn:portcullis:loa:1fa" // password only
	ACRMFA      = "urn:portcullis:loa:2fa" // password and a second factor
	// ACRPhishingResistant is issued only to an app that asked for it
	// (acr_values or the claims parameter) and only after a passkey or
	// security key; others see ACRMFA for the same sign-in, so an app
	// comparing acr with ACRMFA keeps working.
	ACRPhishingResistant = "urn:portcullis:loa:phr"
)

// ACRValuesSupported lists the levels for discovery.
var ACRValuesSupported = []string{ACRPassword, ACRMFA, ACRPhishingResistant}

// Authentication methods (RFC 8176) Portcullis issues in `amr`.
var (
	AMRPassword = []string{"pwd"}
	AMRMFA      = []string{"pwd", "otp", "mfa"} // a password and a TOTP code
)

// AMRWebAuthn is the amr of a password and a WebAuthn credential: "hwk"
// (a key held in hardware) for a device-bound passkey or security key,
// "swk" for a synced passkey (the authenticator says it is backed up: its
// private key exists outside the device, in a cloud account).
func AMRWebAuthn(synced bool) []string {
	if synced {
		return []string{"pwd", "swk", "mfa"}
	}
	return []string{"pwd", "hwk", "mfa"}
}

// AMRPasswordless is the amr of a sign-in with a passkey alone that
// verified its user: the key ("hwk", or "swk" when synced), the user's
// PIN or biometrics ("user"), two factors in one ("mfa").
func AMRPasswordless(synced bool) []string {
	if synced {
		return []string{"swk", "user", "mfa"}
	}
	return []string{"hwk", "user", "mfa"}
}

// PhishingResistant reports whether a session's amr says it passed a
// WebAuthn credential (the only phishing-resistant factor).
func PhishingResistant(amr []string) bool {
	return slices.Contains(amr, "hwk") || slices.Contains(amr, "swk")
}

// ACRFor is the acr an ID token carries for a session at acr with amr:
// the phishing-resistant level when the app asked for it and the session
// reached it, else the session's own level.
func ACRFor(acr string, amr []string, wantsPhishingResistant bool) string {
	if wantsPhishingResistant && acr == ACRMFA && PhishingResistant(amr) {
		return ACRPhishingResistant
	}
	return acr
}

// Supported are the claims Portcullis can put in ID tokens or userinfo
// responses.
var Supported = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
	"email", "email_verified", "name", "preferred_username", "tenant",
}

// ForScopes maps scopes to the claims they release (OIDC Core §5.4).
func ForScopes(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		switch sc {
		case ScopeEmail:
			out = append(out, "email", "email_verified")
		case ScopeProfile:
			out = append(out, "name", "preferred_username")
		}
	}
	return out
}

// Covered returns the names a granted scope covers: the claims parameter
// asks for claims by name, and Portcullis releases one only when the user
// granted a scope that includes it (what the consent page showed), never
// by name alone.
func Covered(names, scopes []string) []string {
	allowed := ForScopes(scopes)
	var out []string
	for _, n := range names {
		if slices.Contains(allowed, n) {
			out = append(out, n)
		}
	}
	return out
}

// OfUser returns the named claims Portcullis has for u. Emails are entered
// by tenant admins or operators, so they count as verified.
func OfUser(u *store.User, names []string) map[string]any {
	out := map[string]any{}
	for _, n := range names {
		switch n {
		case "email":
			out["email"] = u.Email
		case "email_verified":
			out["email_verified"] = true
		case "name":
			if u.Name != "" {
				out["name"] = u.Name
			}
		case "preferred_username":
			out["preferred_username"] = u.Email
		}
	}
	return out
}

// Request is the parsed `claims` parameter: which claims the client asked
// for by name, for the ID token and for userinfo.
type Request struct {
	IDToken  []string
	Userinfo []string
	// ACR holds the acr values asked for (voluntary or essential).
	ACR       []string
	ACRStrict bool
}

// ParseRequest parses the claims parameter ("" gives nil).
func ParseRequest(raw string) (*Request, error) {
	if raw == "" {
		return nil, nil
	}
	type member struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	var doc struct {
		IDToken  map[string]*member `json:"id_token"`
		Userinfo map[string]*member `json:"userinfo"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return nil, err
	}
	cr := &Request{}
	for name, m := range doc.IDToken {
		cr.IDToken = append(cr.IDToken, name)
		if name == "acr" && m != nil {
			if m.Value != "" {
				cr.ACR = append(cr.ACR, m.Value)
			}
			cr.ACR = append(cr.ACR, m.Values...)
			cr.ACRStrict = m.Essential
		}
	}
	for name := range doc.Userinfo {
		cr.Userinfo = append(cr.Userinfo, name)
	}
	slices.Sort(cr.IDToken)
	slices.Sort(cr.Userinfo)
	return cr, nil
}

// WantsMFA reports whether an authorization request asks for the MFA
// level, through acr_values or an acr member of the claims parameter
// (voluntary or essential alike: Portcullis can always satisfy it). cr is
// the parsed claims parameter, or nil.
// The phishing-resistant level includes the MFA level.
func WantsMFA(form url.Values, cr *Request) bool {
	return wants(form, cr, ACRMFA) || WantsPhishingResistant(form, cr)
}

// WantsPhishingResistant reports whether an authorization request asks
// for the phishing-resistant level (a passkey or security key).
func WantsPhishingResistant(form url.Values, cr *Request) bool {
	return wants(form, cr, ACRPhishingResistant)
}

func wants(form url.Values, cr *Request, acr string) bool {
	if slices.Contains(strings.Fields(form.Get("acr_values")), acr) {
		return true
	}
	return cr != nil && slices.Contains(cr.ACR, acr)
}

// forbiddenRedirectSchemes can never be redirect targets: they run code or
// read local data in the browser instead of reaching an app.
var forbiddenRedirectSchemes = []string{"javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "view-source"}

// RedirectSchemeForbidden reports whether scheme may never be a redirect
// URI's, whoever registers it.
func RedirectSchemeForbidden(scheme string) bool {
	return slices.Contains(forbiddenRedirectSchemes, strings.ToLower(scheme))
}
