package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/config"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// Grant types a client may be registered for.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
)

var (
	knownGrantTypes   = []string{grantAuthorizationCode, grantRefreshToken, grantClientCredentials}
	defaultGrantTypes = []string{grantAuthorizationCode, grantRefreshToken}
)

func newClientCmd(c *cli) *cobra.Command {
	return group("client", "Manage relying apps (OAuth 2.0 clients)",
		newClientCreateCmd(c),
		newClientUpdateCmd(c),
		newClientListCmd(c),
		newClientDeleteCmd(c),
	)
}

// clientSpec is what `client create` was asked for.
type clientSpec struct {
	name                   string
	redirectURIs           []string
	postLogoutRedirectURIs []string
	backchannelLogoutURI   string
	public                 bool
	skipConsent            bool
	tenant                 string
	grantTypes             []string
	scopes                 []string
	noPKCE                 bool
	introspect             []string
	webOrigins             []string
	webOriginsGiven        bool
}

// check returns every problem with s, one a line, as a usage error.
func (s *clientSpec) check() error {
	var problems []string
	s.name = strings.TrimSpace(s.name)
	if s.name == "" {
		problems = append(problems, "--name is required")
	}

	s.grantTypes = dedupe(s.grantTypes)
	for _, g := range s.grantTypes {
		if !slices.Contains(knownGrantTypes, g) {
			problems = append(problems, fmt.Sprintf("--grant-types: unknown grant type %q; use %s", g, strings.Join(knownGrantTypes, ", ")))
		}
	}
	code := slices.Contains(s.grantTypes, grantAuthorizationCode)
	switch {
	case len(s.grantTypes) == 0:
		problems = append(problems, "--grant-types must name at least one grant type")
	case slices.Contains(s.grantTypes, grantRefreshToken) && !code:
		problems = append(problems, "--grant-types: refresh_token needs authorization_code")
	}
	if s.public && slices.Contains(s.grantTypes, grantClientCredentials) {
		problems = append(problems, "--grant-types: client_credentials needs a confidential client (a public client has no secret)")
	}
	if s.public && s.noPKCE {
		problems = append(problems, "--no-pkce: public clients always use PKCE")
	}

	if code && len(s.redirectURIs) == 0 {
		problems = append(problems, "--redirect-uri is required for the authorization_code grant (repeat it for several URIs)")
	}
	for _, u := range s.redirectURIs {
		if err := checkRedirectURI(u, s.public); err != nil {
			problems = append(problems, "--redirect-uri: "+err.Error())
		}
	}
	for _, u := range s.postLogoutRedirectURIs {
		if err := checkRedirectURI(u, s.public); err != nil {
			problems = append(problems, "--post-logout-redirect-uri: "+err.Error())
		}
	}
	if s.backchannelLogoutURI != "" {
		if err := checkBackchannelLogoutURI(s.backchannelLogoutURI); err != nil {
			problems = append(problems, "--backchannel-logout-uri: "+err.Error())
		}
	}

	s.scopes = dedupe(s.scopes)
	allowed := claims.AdvertisedScopes
	for _, sc := range s.scopes {
		if !slices.Contains(allowed, sc) {
			problems = append(problems, fmt.Sprintf("--scopes: unknown scope %q; use %s", sc, strings.Join(allowed, ", ")))
		}
	}
	if len(s.scopes) == 0 {
		problems = append(problems, "--scopes must name at least one scope")
	}
	s.introspect = dedupe(s.introspect)
	problems = append(problems, introspectProblems(s.introspect, s.public, s.tenant != "")...)
	if s.webOriginsGiven {
		s.webOrigins = dedupe(s.webOrigins)
		problems = append(problems, webOriginProblems(s.webOrigins)...)
	} else {
		s.webOrigins = store.OriginsOf(s.redirectURIs)
	}
	return problemsError(problems)
}

// webOriginProblems checks --web-origin values.
func webOriginProblems(list []string) []string {
	var problems []string
	for _, o := range list {
		if err := store.CheckWebOrigin(o); err != nil {
			problems = append(problems, "--web-origin: "+err.Error())
		}
	}
	return problems
}

// introspectProblems checks --introspect without the database: "tenant"
// needs a client bound to a tenant, and a public client cannot
// authenticate to introspect at all.
func introspectProblems(list []string, public, boundToTenant bool) []string {
	var problems []string
	if len(list) > 0 && public {
		problems = append(problems, "--introspect: a public client cannot authenticate at the introspection endpoint")
	}
	if slices.Contains(list, store.IntrospectTenant) && !boundToTenant {
		problems = append(problems, "--introspect: "+store.IntrospectTenant+" needs a client bound to a tenant (--tenant)")
	}
	return problems
}

// checkIntrospectClients says which client ids of --introspect do not
// exist.
func checkIntrospectClients(ctx context.Context, st *store.Store, list []string) error {
	var problems []string
	for _, id := range list {
		if id == store.IntrospectTenant {
			continue
		}
		if _, err := st.ClientByID(ctx, id); errors.Is(err, store.ErrNotFound) {
			problems = append(problems, fmt.Sprintf("--introspect: no client %q (see 'portcullis client list')", id))
		} else if err != nil {
			return err
		}
	}
	return problemsError(problems)
}

// checkRedirectURI says what is wrong with a redirect URI, or nil. It must
// be absolute, without fragment or user info; https, or http on a loopback
// host (RFC 8252 native apps and local development). A public native
// client may also use a private-use scheme such as com.example.app:/cb.
func checkRedirectURI(raw string, allowCustomScheme bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a valid URL", raw)
	case !u.IsAbs():
		return fmt.Errorf("%q must be an absolute URL such as https://app.example.com/callback", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not have a fragment (#…)", raw)
	case u.User != nil:
		return fmt.Errorf("%q must not contain a user name or password", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", raw)
		}
	case "http":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", raw)
		}
		if !config.IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%q: http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https", raw)
		}
	default:
		if claims.RedirectSchemeForbidden(u.Scheme) {
			return fmt.Errorf("%q: the %s scheme is not allowed", raw, u.Scheme)
		}
		if !allowCustomScheme {
			return fmt.Errorf("%q: use https (or http on a loopback host); custom schemes are only for public native apps (--public)", raw)
		}
	}
	return nil
}

// checkBackchannelLogoutURI says what is wrong with a back-channel logout
// URI, or nil: the provider POSTs logout tokens to it, so it must be an
// absolute https URL (http only on a loopback host) without a fragment
// (Back-Channel Logout 1.0 §2.2).
func checkBackchannelLogoutURI(raw string) error {
	if u, err := url.Parse(raw); err == nil && u.IsAbs() && u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q: use https (or http on a loopback host)", raw)
	}
	return checkRedirectURI(raw, false)
}

// dedupe returns xs without empty and repeated entries, in order.
func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		x = strings.TrimSpace(x)
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// clientJSON is how --json prints a client.
type clientJSON struct {
	ClientID               string   `json:"client_id"`
	ClientSecret           string   `json:"client_secret,omitempty"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	RequirePKCE            bool     `json:"require_pkce"`
	SkipConsent            bool     `json:"skip_consent"`
	Tenant                 string   `json:"tenant,omitempty"` // slug; empty: any tenant
	Introspect             []string `json:"introspect"`
	WebOrigins             []string `json:"web_origins"`
}

func toClientJSON(cl *store.Client, secret, tenant string) clientJSON {
	nonNil := func(xs []string) []string {
		if xs == nil {
			return []string{}
		}
		return xs
	}
	return clientJSON{
		ClientID:               cl.ID,
		ClientSecret:           secret,
		Name:                   cl.Name,
		Public:                 cl.Public,
		RedirectURIs:           nonNil(cl.RedirectURIs),
		PostLogoutRedirectURIs: nonNil(cl.PostLogoutRedirectURIs),
		BackchannelLogoutURI:   cl.BackchannelLogoutURI,
		GrantTypes:             nonNil(cl.GrantTypes),
		Scopes:                 nonNil(cl.Scopes),
		RequirePKCE:            cl.RequirePKCE,
		SkipConsent:            cl.SkipConsent,
		Tenant:                 tenant,
		Introspect:             nonNil(cl.Introspect),
		WebOrigins:             nonNil(cl.WebOrigins),
	}
}

func newClientCreateCmd(c *cli) *cobra.Command {
	var s clientSpec
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create --name NAME --redirect-uri URI...",
		Short: "Register a relying app",
		Long: `Register a relying app and print its client id and, for a confidential
client, its secret. The secret is shown only this once: Portcullis keeps a
keyed digest of it, so it needs the secrets key, like serve.

Redirect URIs must be absolute, without a fragment, and https (http is
allowed on loopback hosts). So must --backchannel-logout-uri, where the
provider POSTs an OpenID Connect back-channel logout token whenever a
session that signed into the app ends (logout, revocation, expiry).

Public clients (apps that cannot keep a secret: single-page and native
apps) get no secret, must use PKCE, and may use a private-use URI scheme
for native apps.

A client introspects its own tokens. --introspect makes it a resource
server that may also introspect the access tokens of the clients it names
by id, and with "tenant" (for a client bound to a tenant) those of its
tenant's users and clients; refresh tokens stay with their own client.

--web-origin lists the origins (https://app.example.com) whose pages may
call the token, revocation and userinfo endpoints for the client (CORS),
as a single-page app does; by default, the origins of its http(s)
redirect URIs. --web-origin= (empty) allows none.`,
		Example: `  portcullis client create --name "Wiki" --redirect-uri https://wiki.example.com/oidc/callback \
      --post-logout-redirect-uri https://wiki.example.com/ \
      --backchannel-logout-uri https://wiki.example.com/oidc/backchannel-logout
  portcullis client create --name "CLI" --public --redirect-uri http://127.0.0.1/callback --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s.webOriginsGiven = cmd.Flags().Changed("web-origin")
			if err := s.check(); err != nil {
				return err
			}
			cfg, err := c.loadConfig(cmd)
			if err != nil {
				return err
			}
			var key []byte
			if !s.public {
				if key, err = masterKey(&cfg); err != nil {
					return err
				}
			}
			st, err := openExistingStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if err := checkIntrospectClients(ctx, st, s.introspect); err != nil {
				return err
			}

			cl := &store.Client{
				Name:                   s.name,
				Public:                 s.public,
				RedirectURIs:           s.redirectURIs,
				PostLogoutRedirectURIs: s.postLogoutRedirectURIs,
				BackchannelLogoutURI:   s.backchannelLogoutURI,
				SkipConsent:            s.skipConsent,
				RequirePKCE:            s.public || !s.noPKCE,
				Scopes:                 s.scopes,
				GrantTypes:             s.grantTypes,
				Introspect:             s.introspect,
				WebOrigins:             s.webOrigins,
			}
			if s.tenant != "" {
				t, err := tenantBySlug(ctx, st, s.tenant)
				if err != nil {
					return err
				}
				cl.TenantID = &t.ID
			}
			var secret string
			if !s.public {
				if secret, cl.SecretHash, err = secrets.NewClientSecret(key); err != nil {
					return err
				}
			}
			if err := st.CreateClient(ctx, cl); err != nil {
				return err
			}

			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(toClientJSON(cl, secret, s.tenant))
			}
			fmt.Fprintf(c.stdout, "created client %q\n", cl.Name)
			fmt.Fprintf(c.stdout, "client_id:     %s\n", cl.ID)
			if secret != "" {
				fmt.Fprintf(c.stdout, "client_secret: %s\n", secret)
				fmt.Fprintln(c.stderr, "portcullis: the client secret is shown only this once; put it in the app's configuration now.")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.name, "name", "", "name shown to users on the consent page (required)")
	f.StringArrayVar(&s.redirectURIs, "redirect-uri", nil, "redirect URI; repeat for several")
	f.StringArrayVar(&s.postLogoutRedirectURIs, "post-logout-redirect-uri", nil, "where the app may send users after logout; repeat for several")
	f.StringVar(&s.backchannelLogoutURI, "backchannel-logout-uri", "", "URL that receives OpenID back-channel logout tokens")
	f.BoolVar(&s.public, "public", false, "public client (single-page or native app): no secret, PKCE required")
	f.BoolVar(&s.skipConsent, "skip-consent", false, "do not ask users to allow the scopes (first-party apps)")
	f.StringVar(&s.tenant, "tenant", "", "only users of this tenant (slug) may sign in; default any tenant")
	f.StringSliceVar(&s.grantTypes, "grant-types", slices.Clone(defaultGrantTypes), "grant types: "+strings.Join(knownGrantTypes, ", "))
	f.StringSliceVar(&s.scopes, "scopes", slices.Clone(claims.SupportedScopes), "scopes the client may request")
	f.BoolVar(&s.noPKCE, "no-pkce", false, "do not require PKCE (confidential clients only; not recommended)")
	f.StringSliceVar(&s.introspect, "introspect", nil, `resource server: also introspect the access tokens of these client ids, and with "tenant" of the client's tenant`)
	f.StringSliceVar(&s.webOrigins, "web-origin", nil, "origins whose pages may call the token, revocation and userinfo endpoints (CORS); default: the redirect URIs' origins")
	f.BoolVar(&asJSON, "json", false, "print the client as JSON")
	return cmd
}

func newClientUpdateCmd(c *cli) *cobra.Command {
	var introspect, webOrigins []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID [--introspect ...] [--web-origin ...]",
		Short: "Change a relying app's settings",
		Long: `Change the settings of a registered client; only the flags given change.

--introspect replaces the list of what the client may introspect besides
its own tokens: client ids, and "tenant" (a client bound to a tenant) for
the access tokens of its tenant's users and clients. --introspect= (empty)
clears it.

--web-origin replaces the origins whose pages may call the token,
revocation and userinfo endpoints for the client (CORS); --web-origin=
(empty) allows none.`,
		Example: `  portcullis client update 2f0c… --introspect tenant
  portcullis client update 2f0c… --introspect 7a1d…,9e44…
  portcullis client update 2f0c… --introspect=
  portcullis client update 2f0c… --web-origin https://spa.example.com`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			if !f.Changed("introspect") && !f.Changed("web-origin") {
				return usageError{errors.New("nothing to change: give --introspect or --web-origin")}
			}
			webOrigins = dedupe(webOrigins)
			if err := problemsError(webOriginProblems(webOrigins)); err != nil {
				return err
			}
			st, _, err := c.openAdminStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			cl, err := st.ClientByID(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no client %q (see 'portcullis client list')", args[0])
			}
			if err != nil {
				return err
			}
			if f.Changed("introspect") {
				introspect = dedupe(introspect)
				if err := problemsError(introspectProblems(introspect, cl.Public, cl.TenantID != nil)); err != nil {
					return err
				}
				if err := checkIntrospectClients(ctx, st, introspect); err != nil {
					return err
				}
				cl.Introspect = introspect
			}
			if f.Changed("web-origin") {
				cl.WebOrigins = webOrigins
			}
			if err := st.UpdateClient(ctx, cl); err != nil {
				return err
			}
			if asJSON {
				tenant := ""
				if cl.TenantID != nil {
					t, err := st.TenantByID(ctx, *cl.TenantID)
					if err != nil {
						return err
					}
					tenant = t.Slug
				}
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(toClientJSON(cl, "", tenant))
			}
			fmt.Fprintf(c.stdout, "updated client %s\n", cl.ID)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&introspect, "introspect", nil, `client ids whose access tokens it may introspect, and "tenant" for its tenant's; empty clears`)
	cmd.Flags().StringSliceVar(&webOrigins, "web-origin", nil, "origins whose pages may call the token, revocation and userinfo endpoints (CORS); empty allows none")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the client as JSON")
	return cmd
}

func newClientListCmd(c *cli) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List relying apps",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := c.openAdminStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			clients, err := st.ListClients(ctx)
			if err != nil {
				return err
			}
			tenants, err := st.ListTenants(ctx)
			if err != nil {
				return err
			}
			slugs := make(map[string]string, len(tenants))
			for _, t := range tenants {
				slugs[t.ID] = t.Slug
			}
			tenantOf := func(cl *store.Client) string {
				if cl.TenantID == nil {
					return ""
				}
				return slugs[*cl.TenantID]
			}

			if asJSON {
				out := make([]clientJSON, len(clients))
				for i := range clients {
					out[i] = toClientJSON(&clients[i], "", tenantOf(&clients[i]))
				}
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tTENANT\tGRANT_TYPES\tREDIRECT_URIS\tBACKCHANNEL_LOGOUT_URI\tINTROSPECT\tWEB_ORIGINS")
			for i := range clients {
				cl := &clients[i]
				kind := "confidential"
				if cl.Public {
					kind = "public"
				}
				tenant := tenantOf(cl)
				if tenant == "" {
					tenant = "(any)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Name, kind, tenant,
					strings.Join(cl.GrantTypes, ","), dash(strings.Join(cl.RedirectURIs, " ")), dash(cl.BackchannelLogoutURI),
					dash(strings.Join(cl.Introspect, ",")), dash(strings.Join(cl.WebOrigins, " ")))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the clients as JSON (without secrets)")
	return cmd
}

func newClientDeleteCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a relying app and revoke its tokens",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := c.openAdminStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.DeleteClient(cmd.Context(), args[0]); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no client %q (see 'portcullis client list')", args[0])
				}
				return err
			}
			fmt.Fprintf(c.stdout, "deleted client %s\n", args[0])
			return nil
		},
	}
}
