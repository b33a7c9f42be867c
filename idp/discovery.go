package idp

import (
	"encoding/json"
	"net/http"
)

// Authentication context classes Portcullis issues in `acr`.
const (
	ACRPassword = "urn:portcullis:loa:1fa" // password only
	ACRMFA      = "urn:portcullis:loa:2fa" // password and a second factor
)

// Endpoint paths, relative to the issuer.
const (
	pathAuthorize  = "/oauth2/auth"
	pathToken      = "/oauth2/token"
	pathPAR        = "/oauth2/par"
	pathRevoke     = "/oauth2/revoke"
	pathIntrospect = "/oauth2/introspect"
	pathUserinfo   = "/userinfo"
	pathJWKS       = "/.well-known/jwks.json"
	pathEndSession = "/logout"
)

// supportedClaims are the claims Portcullis can put in ID tokens or
// userinfo responses.
var supportedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
	"email", "email_verified", "name", "preferred_username", "tenant",
}

// buildDiscovery renders the discovery document once: it only changes
// with the configuration, so requests get the same bytes from memory.
func (s *Server) buildDiscovery() ([]byte, error) {
	doc := map[string]any{
		"issuer":                                        s.issuer,
		"authorization_endpoint":                        s.issuer + pathAuthorize,
		"token_endpoint":                                s.issuer + pathToken,
		"userinfo_endpoint":                             s.issuer + pathUserinfo,
		"jwks_uri":                                      s.issuer + pathJWKS,
		"revocation_endpoint":                           s.issuer + pathRevoke,
		"introspection_endpoint":                        s.issuer + pathIntrospect,
		"pushed_authorization_request_endpoint":         s.issuer + pathPAR,
		"end_session_endpoint":                          s.issuer + pathEndSession,
		"backchannel_logout_supported":                  true,
		"backchannel_logout_session_supported":          true,
		"frontchannel_logout_supported":                 false,
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query", "form_post"},
		"grant_types_supported":                         []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{s.keys.Alg()},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"code_challenge_methods_supported":              []string{"S256"},
		"scopes_supported":                              AdvertisedScopes,
		"claims_supported":                              supportedClaims,
		"claim_types_supported":                         []string{"normal"},
		"claims_parameter_supported":                    true,
		"request_parameter_supported":                   false,
		"request_uri_parameter_supported":               false,
		"require_pushed_authorization_requests":         false,
		"prompt_values_supported":                       []string{"none", "login", "consent"},
		"display_values_supported":                      []string{"page"},
		"ui_locales_supported":                          []string{"en"},
		"claims_locales_supported":                      []string{"en"},
		"acr_values_supported":                          []string{ACRPassword, ACRMFA},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(s.discovery)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(s.keys.JWKS())
}
