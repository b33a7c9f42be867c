package idp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// introspectAs introspects token as the client id with secret and returns
// the status and the answer.
func (e *env) introspectAs(t *testing.T, id, secret, token, hint string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, err := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/introspect", strings.NewReader(form.Encode()))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out map[string]any
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// confidentialClient registers a confidential client and returns it with
// its secret.
func (e *env) confidentialClient(t *testing.T, name string, tenant *string, introspect ...string) (*store.Client, string) {
	t.Helper()
	secret, hash, err := e.srv.ClientSecret()
	must(t, err)
	c := &store.Client{Name: name, SecretHash: hash, TenantID: tenant, Scopes: []string{"reports"},
		GrantTypes: []string{"client_credentials"}, Introspect: introspect}
	must(t, e.store.CreateClient(context.Background(), c))
	return c, secret
}

// TestIntrospectionConfidentiality: a client learns about its own access
// and refresh tokens; another client, of this tenant or another, is told
// {"active":false}, unless it is registered as a resource server for the
// token's client or for its own tenant, and then for access tokens only.
// An access token is no credential for introspection.
func TestIntrospectionConfidentiality(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, tok := e.signedInWithTokens(newBrowser(t)) // Ada (tenant acme) at e.client
		other := &store.Tenant{Slug: "globex", Name: "Globex"}
		must(t, e.store.CreateTenant(ctx, other))

		stranger, strangerSecret := e.confidentialClient(t, "Globex API", &other.ID)
		neighbour, neighbourSecret := e.confidentialClient(t, "Acme Reports", &e.tenant.ID)
		forClient, forClientSecret := e.confidentialClient(t, "Web API", nil, e.client.ID)
		forTenant, forTenantSecret := e.confidentialClient(t, "Acme API", &e.tenant.ID, store.IntrospectTenant)
		otherTenant, otherTenantSecret := e.confidentialClient(t, "Globex Gateway", &other.ID, store.IntrospectTenant)

		for _, c := range []struct {
			name           string
			id, secret     string
			access, refesh bool
		}{
			{"the token's own client", e.client.ID, e.secret, true, true},
			{"a client of another tenant", stranger.ID, strangerSecret, false, false},
			{"a client of the same tenant", neighbour.ID, neighbourSecret, false, false},
			{"a machine client", e.machine.ID, e.mSecret, false, false},
			{"a resource server for the token's client", forClient.ID, forClientSecret, true, false},
			{"a resource server for the token's tenant", forTenant.ID, forTenantSecret, true, false},
			{"a resource server for another tenant", otherTenant.ID, otherTenantSecret, false, false},
		} {
			for _, k := range []struct {
				token, hint string
				want        bool
			}{{tok.AccessToken, "", c.access}, {tok.RefreshToken, "refresh_token", c.refesh}, {tok.RefreshToken, "", c.refesh}} {
				status, out := e.introspectAs(t, c.id, c.secret, k.token, k.hint)
				if status != http.StatusOK || out["active"] != k.want {
					t.Errorf("%s, hint %q: %d %v, want active %v", c.name, k.hint, status, out, k.want)
				}
				if !k.want && len(out) != 1 {
					t.Errorf("%s: an inactive answer says more than active: %v", c.name, out)
				}
			}
		}

		// A client acting for itself: its token belongs to its own binding.
		_, mTok := e.clientCredentials(t, neighbour.ID, neighbourSecret)
		for _, c := range []struct {
			name       string
			id, secret string
			want       bool
		}{
			{"its own client", neighbour.ID, neighbourSecret, true},
			{"the resource server of its tenant", forTenant.ID, forTenantSecret, true},
			{"another client", e.client.ID, e.secret, false},
		} {
			if _, out := e.introspectAs(t, c.id, c.secret, mTok, ""); out["active"] != c.want {
				t.Errorf("client credentials token, introspected by %s: %v, want active %v", c.name, out, c.want)
			}
		}

		// An access token is no credential here (fosite would take one).
		form := url.Values{"token": {tok.RefreshToken}}
		req, err := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/introspect", strings.NewReader(form.Encode()))
		must(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		var out map[string]any
		must(t, json.NewDecoder(resp.Body).Decode(&out))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("introspection with a bearer token: %d %v, want 401 invalid_client", resp.StatusCode, out)
		}
	})
}

// clientCredentials gets an access token for the client itself.
func (e *env) clientCredentials(t *testing.T, id, secret string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"}}.Encode()))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	if out.AccessToken == "" {
		t.Fatalf("client credentials: %d, no token", resp.StatusCode)
	}
	return resp.StatusCode, out.AccessToken
}

// TestAdminAPIClients: a tenant admin lists the clients bound to the
// organisation and makes one a resource server (introspect), which then
// introspects the organisation's tokens; other tenants' clients and
// clients open to every tenant are 404, and a list naming them is 400.
func TestAdminAPIClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := e.newAdmin(t)
		b := e.adminBrowser(t, a)
		e.enrollFromAccount(b, a.user)
		tok := e.adminToken(b, a, a.user, "openid", "portcullis:admin")

		other := &store.Tenant{Slug: "globex", Name: "Globex"}
		must(t, e.store.CreateTenant(ctx, other))
		rs, rsSecret := e.confidentialClient(t, "Acme API", &e.tenant.ID)
		web, _ := e.confidentialClient(t, "Acme Web", &e.tenant.ID)
		foreign, _ := e.confidentialClient(t, "Globex API", &other.ID)
		spa := &store.Client{Name: "Acme SPA", Public: true, TenantID: &e.tenant.ID, RedirectURIs: []string{"https://spa.acme.test/cb"},
			RequirePKCE: true, Scopes: []string{"openid"}, GrantTypes: []string{"authorization_code"}}
		must(t, e.store.CreateClient(ctx, spa))

		status, _, out := e.api(http.MethodGet, "/admin/api/clients", tok, "")
		var ids []string
		clients, _ := out["clients"].([]any)
		for _, c := range clients {
			m := c.(map[string]any)
			ids = append(ids, m["client_id"].(string))
			if _, ok := m["introspect"].([]any); !ok {
				t.Errorf("client without an introspect list: %v", m)
			}
		}
		if status != http.StatusOK || len(ids) != 3 || !containsAll(ids, rs.ID, web.ID, spa.ID) {
			t.Fatalf("GET clients: %d %v, want the three Acme clients", status, out)
		}

		// Before: the API does not see Ada's token.
		_, adaTok := e.signedInWithTokens(newBrowser(t))
		if _, out := e.introspectAs(t, rs.ID, rsSecret, adaTok.AccessToken, ""); out["active"] != false {
			t.Fatalf("a client introspected another's token: %v", out)
		}
		path := "/admin/api/clients/" + rs.ID
		status, _, out = e.api(http.MethodPatch, path, tok, `{"introspect":["tenant","`+web.ID+`","tenant"]}`)
		if got, _ := out["introspect"].([]any); status != http.StatusOK || len(got) != 2 || got[0] != "tenant" || got[1] != web.ID {
			t.Fatalf("PATCH introspect: %d %v", status, out)
		}
		if evs, err := e.store.ListAudit(context.Background(), store.AuditFilter{TenantID: e.tenant.ID, Event: "client.updated"}); err != nil ||
			len(evs) != 1 || evs[0].SubjectID != rs.ID || !strings.Contains(evs[0].Detail, `"introspect":["tenant","`+web.ID+`"]`) {
			t.Errorf("the change is not audited: %+v, %v", evs, err)
		}
		if _, out := e.introspectAs(t, rs.ID, rsSecret, adaTok.AccessToken, ""); out["active"] != true || out["sub"] != e.user.ID {
			t.Errorf("the resource server of the tenant does not see the tenant's token: %v", out)
		}
		if _, out := e.introspectAs(t, rs.ID, rsSecret, adaTok.RefreshToken, ""); out["active"] != false {
			t.Errorf("the resource server sees a refresh token: %v", out)
		}

		for _, c := range []struct {
			what, path, body string
			status           int
		}{
			{"a client of another tenant", "/admin/api/clients/" + foreign.ID, `{"introspect":[]}`, http.StatusNotFound},
			{"a client of every tenant", "/admin/api/clients/" + e.client.ID, `{"introspect":[]}`, http.StatusNotFound},
			{"an unknown client", "/admin/api/clients/nope", `{"introspect":[]}`, http.StatusNotFound},
			{"naming another tenant's client", path, `{"introspect":["` + foreign.ID + `"]}`, http.StatusBadRequest},
			{"naming a client of every tenant", path, `{"introspect":["` + e.client.ID + `"]}`, http.StatusBadRequest},
			{"a public client", "/admin/api/clients/" + spa.ID, `{"introspect":["tenant"]}`, http.StatusBadRequest},
			{"nothing to change", path, `{}`, http.StatusBadRequest},
			{"not a list", path, `{"introspect":"tenant"}`, http.StatusBadRequest},
			{"an unknown field", path, `{"secret":"x"}`, http.StatusBadRequest},
			{"not JSON", path, `{"introspect":[`, http.StatusBadRequest},
		} {
			status, _, out := e.api(http.MethodPatch, c.path, tok, c.body)
			if status != c.status || out["error"] == nil {
				t.Errorf("PATCH %s: %d %v, want %d", c.what, status, out, c.status)
			}
		}
		// Web origins (CORS) of the SPA.
		status, _, out = e.api(http.MethodPatch, "/admin/api/clients/"+spa.ID, tok, `{"web_origins":["https://spa.acme.test","http://127.0.0.1:8080"]}`)
		if got, _ := out["web_origins"].([]any); status != http.StatusOK || len(got) != 2 || got[0] != "https://spa.acme.test" {
			t.Errorf("PATCH web_origins: %d %v", status, out)
		}
		for _, bad := range []string{`{"web_origins":["https://spa.acme.test/"]}`, `{"web_origins":["http://spa.acme.test"]}`, `{"web_origins":["*"]}`} {
			if status, _, out := e.api(http.MethodPatch, "/admin/api/clients/"+spa.ID, tok, bad); status != http.StatusBadRequest || out["error"] != "invalid_request" {
				t.Errorf("PATCH %s: %d %v, want 400", bad, status, out)
			}
		}
		if stored, _ := e.store.ClientByID(ctx, spa.ID); len(stored.WebOrigins) != 2 {
			t.Errorf("web origins stored: %v", stored.WebOrigins)
		}
		if stored, _ := e.store.ClientByID(ctx, rs.ID); len(stored.Introspect) != 2 {
			t.Errorf("a refused PATCH changed the client: %v", stored.Introspect)
		}
	})
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
