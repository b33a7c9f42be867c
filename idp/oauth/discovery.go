package oauth

import (
	"encoding/json"
	"net/http"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/flow"
)

// Endpoint paths, relative to the issuer.
const (
	pathToken      = "/oauth2/token"
	pathPAR        = "/oauth2/par"
	pathRevoke     = "/oauth2/revoke"
	pathIntrospect = "/oauth2/introspect"
	pathUserinfo   = "/userinfo"
	pathJWKS       = "/.well-known/jwks.json"
	// PathEndSession is RP-initiated logout, served by idp/logout.
	PathEndSession = "/logout"
)

// buildDiscovery renders the discovery document once: it only changes
// with the configuration, so requests get the same bytes from memory.
func (e *Endpoints) buildDiscovery() ([]byte, error) {
	doc := map[string]any{
		"issuer":                                         e.Issuer,
		"authorization_endpoint":                         e.Issuer + flow.PathAuthorize,
		"token_endpoint":                                 e.Issuer + pathToken,
		"userinfo_endpoint":                              e.Issuer + pathUserinfo,
		"jwks_uri":                                       e.Issuer + pathJWKS,
		"revocation_endpoint":                            e.Issuer + pathRevoke,
		"introspection_endpoint":                         e.Issuer + pathIntrospect,
		"pushed_authorization_request_endpoint":          e.Issuer + pathPAR,
		"end_session_endpoint":                           e.Issuer + PathEndSession,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"frontchannel_logout_supported":                  false,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query", "form_post"},
		"authorization_response_iss_parameter_supported": true,
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{e.Keys.Alg()},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic"},
		"code_challenge_methods_supported":               []string{"S256"},
		"scopes_supported":                               claims.AdvertisedScopes,
		"claims_supported":                               claims.Supported,
		"claim_types_supported":                          []string{"normal"},
		"claims_parameter_supported":                     true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"require_pushed_authorization_requests":          false,
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"display_values_supported":                       []string{"page"},
		"ui_locales_supported":                           []string{"en"},
		"claims_locales_supported":                       []string{"en"},
		"acr_values_supported":                           claims.ACRValuesSupported,
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (e *Endpoints) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(e.discovery)
}

func (e *Endpoints) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(e.Keys.JWKS(r.Context()))
}
