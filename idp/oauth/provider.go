package oauth

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/par"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// parURIPrefix is RFC 9126's request_uri prefix.
const parURIPrefix = "urn:ietf:params:oauth:request_uri:"

// The client-secret digest is fosite's ClientSecretsHasher.
var _ fosite.Hasher = secrets.ClientSecretHasher{}

// ProviderConfig carries what the fosite wiring needs.
type ProviderConfig struct {
	Issuer               string
	GlobalSecret         []byte
	MasterKey            []byte // the client secret digest's key derives from it
	AccessTokenLifespan  time.Duration
	RefreshTokenLifespan time.Duration
	AuthCodeLifespan     time.Duration
	IDTokenLifespan      time.Duration
}

// NewProvider wires fosite by hand: only authorization code + PKCE (S256),
// refresh, the OIDC explicit flow, client credentials, revocation,
// introspection and PAR. No password grant, implicit or hybrid flow can be
// reached, because their handlers are never constructed.
func NewProvider(pc ProviderConfig, st *store.Store, keys *signing.Keys) (fosite.OAuth2Provider, oauth2.AccessTokenStrategy) {
	cfg := &fosite.Config{
		AccessTokenLifespan:             pc.AccessTokenLifespan,
		RefreshTokenLifespan:            pc.RefreshTokenLifespan,
		AuthorizeCodeLifespan:           pc.AuthCodeLifespan,
		IDTokenLifespan:                 pc.IDTokenLifespan,
		IDTokenIssuer:                   pc.Issuer,
		AccessTokenIssuer:               pc.Issuer,
		TokenURL:                        pc.Issuer + "/oauth2/token",
		GlobalSecret:                    pc.GlobalSecret,
		SendDebugMessagesToClients:      false,
		ScopeStrategy:                   fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:        fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCE:                     false, // per client, see checkAuthorizeRequest
		EnforcePKCEForPublicClients:     true,
		EnablePKCEPlainChallengeMethod:  false,
		RefreshTokenScopes:              []string{claims.ScopeOfflineAccess},
		MinParameterEntropy:             fosite.MinParameterEntropy,
		ClientSecretsHasher:             secrets.NewClientSecretHasher(pc.MasterKey),
		PushedAuthorizeRequestURIPrefix: parURIPrefix,
		PushedAuthorizeContextLifespan:  5 * time.Minute,
		RedirectSecureChecker:           redirectURISecure,
	}
	hmacStrategy := oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: cfg}, cfg)
	idStrategy := &openid.DefaultStrategy{
		Signer: &jwt.DefaultSigner{GetPrivateKey: keys.PrivateKey},
		Config: cfg,
	}
	oidcValidator := openid.NewOpenIDConnectRequestValidator(hintSigner{DefaultSigner: idStrategy.Signer.(*jwt.DefaultSigner), keys: keys}, cfg)

	authCode := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy:    hmacStrategy,
		RefreshTokenStrategy:   hmacStrategy,
		AuthorizeCodeStrategy:  hmacStrategy,
		CoreStorage:            st,
		TokenRevocationStorage: st,
		Config:                 cfg,
	}
	refresh := &oauth2.RefreshTokenGrantHandler{
		AccessTokenStrategy:    hmacStrategy,
		RefreshTokenStrategy:   hmacStrategy,
		TokenRevocationStorage: st,
		Config:                 cfg,
	}
	clientCredentials := &oauth2.ClientCredentialsGrantHandler{
		HandleHelper: &oauth2.HandleHelper{AccessTokenStrategy: hmacStrategy, AccessTokenStorage: st, Config: cfg},
		Config:       cfg,
	}
	oidcExplicit := &openid.OpenIDConnectExplicitHandler{
		OpenIDConnectRequestStorage:   st,
		IDTokenHandleHelper:           &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy},
		OpenIDConnectRequestValidator: oidcValidator,
		Config:                        cfg,
	}
	oidcRefresh := &openid.OpenIDConnectRefreshHandler{
		IDTokenHandleHelper: &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy},
		Config:              cfg,
	}
	pkceHandler := &pkce.Handler{AuthorizeCodeStrategy: hmacStrategy, Storage: st, Config: cfg}
	revocation := &oauth2.TokenRevocationHandler{
		TokenRevocationStorage: st,
		AccessTokenStrategy:    hmacStrategy,
		RefreshTokenStrategy:   hmacStrategy,
	}
	introspection := &oauth2.CoreValidator{CoreStrategy: hmacStrategy, CoreStorage: st, Config: cfg}
	pushed := &par.PushedAuthorizeHandler{Storage: st, Config: cfg}

	cfg.AuthorizeEndpointHandlers = fosite.AuthorizeEndpointHandlers{authCode, oidcExplicit, pkceHandler}
	cfg.TokenEndpointHandlers = fosite.TokenEndpointHandlers{authCode, refresh, clientCredentials, oidcExplicit, oidcRefresh, pkceHandler}
	cfg.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{introspection}
	cfg.RevocationHandlers = fosite.RevocationHandlers{revocation}
	cfg.PushedAuthorizeEndpointHandlers = fosite.PushedAuthorizeEndpointHandlers{pushed}

	return strictRedirects{&fosite.Fosite{Store: st, Config: cfg}}, hmacStrategy
}

// redirectURISecure accepts https, http on a loopback host (RFC 8252 §7.3;
// any port there for public clients, see strictRedirects), and the private-use schemes of native
// apps (RFC 8252 §7.1, such as com.example.app:/cb), which the CLI lets
// only public clients register; PKCE is mandatory for those.
func redirectURISecure(_ context.Context, u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return fosite.IsLocalhost(u)
	default:
		return u.Scheme != "" && !claims.RedirectSchemeForbidden(u.Scheme)
	}
}

// hintSigner is what fosite's OpenID request validator decodes an
// id_token_hint with. jwt.DefaultSigner checks a token against the active
// key alone, so after a rotation a hint signed by the previous key was
// refused at the end of the sign-in; this takes the published key the
// hint's kid names, with its algorithm, as Keys.VerifyHint does.
type hintSigner struct {
	*jwt.DefaultSigner
	keys *signing.Keys
}

func (h hintSigner) Decode(_ context.Context, token string) (*jwt.Token, error) {
	return jwt.Parse(token, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		alg, _ := t.Header["alg"].(string)
		key, ok := h.keys.PublicKey(kid)
		if !ok || alg != key.Algorithm {
			return nil, errors.New("id_token_hint: not signed by a published key")
		}
		return key.Key, nil
	})
}
