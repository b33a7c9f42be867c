package claims_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/store"
)

func TestForScopesAndOfUser(t *testing.T) {
	names := claims.ForScopes([]string{"openid", "email", "profile", "offline_access"})
	if want := []string{"email", "email_verified", "name", "preferred_username"}; !slices.Equal(names, want) {
		t.Errorf("ForScopes = %v, want %v", names, want)
	}
	u := &store.User{Email: "ada@example.com"}
	got := claims.OfUser(u, append(names, "tenant", "nonsense"))
	if got["email"] != "ada@example.com" || got["email_verified"] != true || got["preferred_username"] != "ada@example.com" {
		t.Errorf("OfUser = %v", got)
	}
	if _, ok := got["name"]; ok {
		t.Error("an empty name was released")
	}
	if len(got) != 3 {
		t.Errorf("OfUser released claims it does not know: %v", got)
	}
}

func TestCovered(t *testing.T) {
	asked := []string{"email", "name", "acr", "phone_number"}
	if got := claims.Covered(asked, []string{"openid"}); len(got) != 0 {
		t.Errorf("openid alone covers %v", got)
	}
	if got := claims.Covered(asked, []string{"openid", "email"}); !slices.Equal(got, []string{"email"}) {
		t.Errorf("openid email covers %v, want [email]", got)
	}
}

func TestParseRequestAndWantsMFA(t *testing.T) {
	cr, err := claims.ParseRequest(`{"id_token":{"acr":{"essential":true,"values":["` + claims.ACRMFA + `"]},"email":null},"userinfo":{"name":null}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cr.IDToken, []string{"acr", "email"}) || !slices.Equal(cr.Userinfo, []string{"name"}) || !cr.ACRStrict {
		t.Errorf("ParseRequest = %+v", cr)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		cr   *claims.Request
		want bool
	}{
		{"nothing", url.Values{}, nil, false},
		{"acr_values", url.Values{"acr_values": {"x " + claims.ACRMFA}}, nil, true},
		{"acr_values password only", url.Values{"acr_values": {claims.ACRPassword}}, nil, false},
		{"claims acr", url.Values{}, cr, true},
	} {
		if got := claims.WantsMFA(tc.form, tc.cr); got != tc.want {
			t.Errorf("%s: WantsMFA = %v, want %v", tc.name, got, tc.want)
		}
	}
	if cr, err := claims.ParseRequest(""); cr != nil || err != nil {
		t.Errorf(`ParseRequest("") = %v, %v`, cr, err)
	}
	if _, err := claims.ParseRequest(`{"id_token":`); err == nil {
		t.Error("malformed claims parameter accepted")
	}
}

func TestRedirectSchemeForbidden(t *testing.T) {
	for _, s := range []string{"javascript", "JavaScript", "data", "file", "blob"} {
		if !claims.RedirectSchemeForbidden(s) {
			t.Errorf("%s: allowed", s)
		}
	}
	for _, s := range []string{"https", "http", "com.example.app"} {
		if claims.RedirectSchemeForbidden(s) {
			t.Errorf("%s: forbidden", s)
		}
	}
}
