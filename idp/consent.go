package idp

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/templates"
)

var scopeDescriptions = map[string]string{
	ScopeOpenID:        "Know who you are (a stable, opaque identifier)",
	ScopeProfile:       "See your name",
	ScopeEmail:         "See your email address",
	ScopeAddress:       "See your postal address",
	ScopePhone:         "See your phone number",
	ScopeOfflineAccess: "Stay connected when you are not using it",
	ScopeAdmin:         "Administer your organisation in Portcullis",
}

// consentContext loads the pending request in the consent stage, for the
// signed-in user who started it, with that user's id and the scopes asked.
func (s *Server) consentContext(w http.ResponseWriter, r *http.Request, id string) (pending *store.AuthRequest, userID string, scopes []string, err error) {
	pending, err = s.pendingRequest(w, r, id)
	if err != nil {
		return nil, "", nil, err
	}
	si, err := s.currentSession(r.Context(), r)
	if err != nil {
		return nil, "", nil, err
	}
	if pending.Stage != stageConsent || si == nil || (pending.UserID != "" && pending.UserID != si.User.ID) {
		return nil, "", nil, errRequestExpired
	}
	form, _ := url.ParseQuery(pending.Form)
	return pending, si.User.ID, strings.Fields(form.Get("scope")), nil
}

func (s *Server) showConsent(w http.ResponseWriter, r *http.Request) error {
	pending, _, scopes, err := s.consentContext(w, r, r.URL.Query().Get("auth_request"))
	if err != nil {
		return err
	}
	client, err := s.store.ClientByID(r.Context(), pending.ClientID)
	if err != nil {
		return errRequestExpired
	}
	items := make([]templates.ScopeItem, 0, len(scopes))
	for _, sc := range scopes {
		d, ok := scopeDescriptions[sc]
		if !ok {
			d = sc
		}
		items = append(items, templates.ScopeItem{Name: sc, Description: d})
	}
	pageHeaders(w, "")
	return s.tpl.Consent(w, templates.ConsentPage{
		Page:          templates.Page{Title: "Allow access", RequestID: RequestID(r.Context())},
		Action:        "/consent",
		AuthRequestID: pending.ID,
		ClientName:    client.Name,
		Scopes:        items,
	})
}

func (s *Server) submitConsent(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return badRequest("The form could not be read.")
	}
	pending, userID, scopes, err := s.consentContext(w, r, r.PostForm.Get("auth_request"))
	if err != nil {
		return err
	}
	switch r.PostForm.Get("decision") {
	case "allow":
		if err := s.store.SaveConsent(ctx, userID, pending.ClientID, scopes); err != nil {
			return err
		}
		return s.advance(w, r, pending, stageConsented, pathResume, nil)
	case "deny":
		ar, err := s.replay(ctx, pending)
		if err != nil {
			s.authorizeFailure(w, r, ar, err)
			return nil
		}
		if err := s.store.DeleteAuthRequest(ctx, pending.ID); err != nil {
			return errRequestExpired
		}
		s.authorizeFailure(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return nil
	}
	return badRequest("Choose Allow or Deny.")
}
