package oauth

import (
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/flow"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

var scopeDescriptions = map[string]string{
	claims.ScopeOpenID:        "Know who you are (a stable, opaque identifier)",
	claims.ScopeProfile:       "See your name",
	claims.ScopeEmail:         "See your email address",
	claims.ScopeAddress:       "See your postal address",
	claims.ScopePhone:         "See your phone number",
	claims.ScopeOfflineAccess: "Stay connected when you are not using it",
	claims.ScopeAdmin:         "Administer your organisation in Portcullis",
}

// consentContext loads the pending request waiting for consent, for the
// signed-in user who started it, with that user's id and the scopes asked.
func (e *Endpoints) consentContext(r *http.Request, id string) (pending *flow.Pending, userID string, scopes []string, err error) {
	pending, err = e.Flows.Load(r.Context(), id, e.Sessions.BoundTo(r), flow.StageSignedIn)
	if err != nil {
		return nil, "", nil, err
	}
	si, err := e.Sessions.Current(r)
	if err != nil {
		return nil, "", nil, err
	}
	if pending.Kind() != flow.KindAuthorize || si == nil || (pending.UserID != "" && pending.UserID != si.User.ID) {
		return nil, "", nil, web.ErrRequestExpired
	}
	return pending, si.User.ID, strings.Fields(pending.Form().Get("scope")), nil
}

func (e *Endpoints) showConsent(w http.ResponseWriter, r *http.Request) error {
	pending, _, scopes, err := e.consentContext(r, r.URL.Query().Get("auth_request"))
	if err != nil {
		return err
	}
	client, err := e.Store.ClientByID(r.Context(), pending.ClientID)
	if err != nil {
		return web.ErrRequestExpired
	}
	items := make([]templates.ScopeItem, 0, len(scopes))
	for _, sc := range scopes {
		d, ok := scopeDescriptions[sc]
		if !ok {
			d = sc
		}
		items = append(items, templates.ScopeItem{Name: sc, Description: d})
	}
	web.PageHeaders(w, "")
	return e.Templates.Consent(w, templates.ConsentPage{
		Page:          templates.Page{Title: "Allow access", RequestID: web.RequestID(r.Context())},
		Action:        flow.PathConsent,
		AuthRequestID: pending.ID,
		ClientName:    client.Name,
		Scopes:        items,
	})
}

func (e *Endpoints) submitConsent(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return web.BadRequest("The form could not be read.")
	}
	pending, userID, scopes, err := e.consentContext(r, r.PostForm.Get("auth_request"))
	if err != nil {
		return err
	}
	switch r.PostForm.Get("decision") {
	case "allow":
		if err := e.Store.SaveConsent(ctx, userID, pending.ClientID, scopes); err != nil {
			return err
		}
		if err := e.Flows.Advance(ctx, pending, flow.StageConsented); err != nil {
			return err
		}
		http.Redirect(w, r, pending.URL(), http.StatusSeeOther)
		return nil
	case "deny":
		az, err := e.replay(ctx, pending)
		if err != nil {
			return err
		}
		if err := e.Flows.Finish(ctx, pending); err != nil {
			return err
		}
		return refuse(az.ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
	}
	return web.BadRequest("Choose Allow or Deny.")
}
