package oauth

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

// renderFormPost answers with an auto-submitting form (response_mode=form_post).
func (e *Endpoints) renderFormPost(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	nonce := web.ScriptNonce()
	web.PageHeaders(w, nonce)
	// The form goes to the client's redirect URI.
	w.Header().Set("Content-Security-Policy", w.Header().Get("Content-Security-Policy")+"; form-action "+originOf(redirectURI))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ps []templates.Param
	for _, k := range keys {
		for _, v := range params[k] {
			ps = append(ps, templates.Param{Name: k, Value: v})
		}
	}
	_ = e.Templates.FormPost(w, templates.FormPostPage{
		Page:        templates.Page{Title: "Continue", RequestID: web.RequestID(r.Context()), CSPNonce: nonce},
		RedirectURI: redirectURI,
		Params:      ps,
	})
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "'none'"
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}
