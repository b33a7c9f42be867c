package oauth

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/ory/fosite"
)

// strictRedirects is the provider with Portcullis' own redirect URI rule
// in front of fosite's. fosite matches a loopback redirect URI
// (http://127.0.0.1, http://[::1]) on any port for every client, and while
// doing so also lets through user info, a scheme in capitals and an empty
// query or fragment (it compares parsed URLs). Here a redirect URI must be
// one of the client's, character for character; only a public client
// (a native app, RFC 8252 §7.3) may change the port of a registered
// loopback URI, and nothing else.
//
// The check runs after fosite's, on every path that reads a redirect URI:
// the authorization endpoint, the replay of a pending request, and PAR. A
// request that fails it is returned without its request, so its error is
// never sent to the URI it named.
type strictRedirects struct {
	fosite.OAuth2Provider
}

func (p strictRedirects) NewAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error) {
	ar, err := p.OAuth2Provider.NewAuthorizeRequest(ctx, r)
	return checkRedirect(ar, err)
}

func (p strictRedirects) NewPushedAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error) {
	ar, err := p.OAuth2Provider.NewPushedAuthorizeRequest(ctx, r)
	return checkRedirect(ar, err)
}

// errRedirectNotRegistered is fosite's own refusal text, which the
// refusals adapter recognises.
var errRedirectNotRegistered = fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.")

// checkRedirect refuses a request whose redirect URI fosite accepted but
// Portcullis does not. A request fosite refused before it validated the
// redirect URI is returned as it was.
func checkRedirect(ar fosite.AuthorizeRequester, err error) (fosite.AuthorizeRequester, error) {
	if ar == nil || ar.GetClient() == nil || ar.GetRedirectURI() == nil {
		return ar, err
	}
	if !RedirectURIRegistered(ar.GetClient(), ar.GetRequestForm().Get("redirect_uri")) {
		return nil, errRedirectNotRegistered
	}
	return ar, err
}

// RedirectURIRegistered reports whether raw is one of c's redirect URIs:
// the same string, or, for a public client only, a registered loopback URI
// with another port.
func RedirectURIRegistered(c fosite.Client, raw string) bool {
	registered := c.GetRedirectURIs()
	if raw == "" {
		// fosite's rule: with one URI registered, the request may omit it
		// (OpenID requests may not; fosite refuses those itself).
		return len(registered) == 1
	}
	for _, u := range registered {
		if u == raw {
			return true
		}
	}
	if !c.IsPublic() {
		return false
	}
	want, ok := withoutLoopbackPort(raw)
	if !ok {
		return false
	}
	for _, u := range registered {
		if got, ok := withoutLoopbackPort(u); ok && got == want {
			return true
		}
	}
	return false
}

// withoutLoopbackPort returns raw without its port when raw is an http URI
// (the scheme in lower case) on a loopback IP literal, with no user info;
// ok is false for anything else.
func withoutLoopbackPort(raw string) (string, bool) {
	const scheme = "http://"
	if !strings.HasPrefix(raw, scheme) {
		return "", false
	}
	rest := raw[len(scheme):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(authority, "@") {
		return "", false
	}
	host := authority
	if h, port, err := net.SplitHostPort(authority); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", false
		}
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	literal := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(literal); ip == nil || !ip.IsLoopback() {
		return "", false
	}
	return scheme + host + tail, true
}
