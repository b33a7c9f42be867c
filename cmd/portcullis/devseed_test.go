package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/config"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
)

func TestSeedDevIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: filepath.Join(dataDir, "portcullis.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := []byte(strings.Repeat("k", 32))
	const demoURL = "http://127.0.0.1:8081"

	first, err := seedDev(ctx, st, key, dataDir, demoURL)
	if err != nil {
		t.Fatal(err)
	}
	if !first.AdminPasswordNew || first.AdminPassword == "" || first.ClientSecret == "" {
		t.Fatalf("first seed: %+v", first)
	}
	second, err := seedDev(ctx, st, key, dataDir, demoURL)
	if err != nil {
		t.Fatal(err)
	}
	if second.AdminPasswordNew || second.AdminPassword != first.AdminPassword || second.ClientSecret != first.ClientSecret {
		t.Errorf("second seed changed something:\nfirst  %+v\nsecond %+v", first, second)
	}
	counts := func() [3]int {
		tenants, _ := st.ListTenants(ctx)
		clients, _ := st.ListClients(ctx)
		var users int
		for _, tn := range tenants {
			us, _ := st.ListUsers(ctx, tn.ID)
			users += len(us)
		}
		return [3]int{len(tenants), users, len(clients)}
	}
	if got := counts(); got != [3]int{1, 1, 1} {
		t.Errorf("tenants, users, clients = %v, want one of each", got)
	}

	// The demo client gets back-channel logout and its start page as the
	// post-logout redirect URI.
	cl, err := st.ClientByID(ctx, demoClientID)
	if err != nil {
		t.Fatal(err)
	}
	if cl.BackchannelLogoutURI != demoURL+"/backchannel-logout" || len(cl.PostLogoutRedirectURIs) != 1 || cl.PostLogoutRedirectURIs[0] != demoURL+"/" {
		t.Errorf("demo client: back-channel %q, post-logout %v", cl.BackchannelLogoutURI, cl.PostLogoutRedirectURIs)
	}

	// What was seeded.
	tenant, err := st.TenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	// The demo tenant requires TFA: the first sign-in enrolls an authenticator.
	if tenant.Name != "Demo Company" || !tenant.RequireTFA {
		t.Errorf("tenant: %+v, want Demo Company requiring TFA", tenant)
	}
	admin, err := st.UserByEmail(ctx, "admin@demo.test")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secrets.CheckPassword(admin.PasswordHash, first.AdminPassword); !ok || admin.Role != store.RoleAdmin || admin.TenantID != tenant.ID {
		t.Errorf("admin: %+v (password matches: %v)", admin, ok)
	}
	client, err := st.ClientByID(ctx, "demo-app")
	if err != nil {
		t.Fatal(err)
	}
	if client.Name != "Portcullis demo app" || client.Public || client.SkipConsent || !client.RequirePKCE ||
		!slices.Equal(client.RedirectURIs, []string{demoURL + "/callback"}) ||
		!slices.Equal(client.PostLogoutRedirectURIs, []string{demoURL + "/"}) ||
		!slices.Equal(client.Scopes, claims.SupportedScopes) ||
		!slices.Equal(client.GrantTypes, []string{"authorization_code", "refresh_token"}) ||
		!secrets.ClientSecretMatches(key, first.ClientSecret, client.SecretHash) {
		t.Errorf("client: %+v", client)
	}
	for _, name := range []string{adminPasswordTxt, clientSecretTxt} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}

	// The client secret file is gone: the client is made again.
	if err := os.Remove(filepath.Join(dataDir, clientSecretTxt)); err != nil {
		t.Fatal(err)
	}
	third, err := seedDev(ctx, st, key, dataDir, demoURL)
	if err != nil {
		t.Fatal(err)
	}
	client, err = st.ClientByID(ctx, "demo-app")
	if err != nil {
		t.Fatal(err)
	}
	if third.ClientSecret == first.ClientSecret || !secrets.ClientSecretMatches(key, third.ClientSecret, client.SecretHash) {
		t.Error("a lost client secret was not replaced")
	}

	// The demo moved to another port: its redirect URIs follow.
	moved, err := seedDev(ctx, st, key, dataDir, "http://127.0.0.1:9091")
	if err != nil {
		t.Fatal(err)
	}
	client, _ = st.ClientByID(ctx, "demo-app")
	if !slices.Equal(client.RedirectURIs, []string{"http://127.0.0.1:9091/callback"}) || !secrets.ClientSecretMatches(key, moved.ClientSecret, client.SecretHash) {
		t.Errorf("client after the demo moved: %+v", client)
	}

	// The password file is gone: the admin gets a new password.
	if err := os.Remove(filepath.Join(dataDir, adminPasswordTxt)); err != nil {
		t.Fatal(err)
	}
	fourth, err := seedDev(ctx, st, key, dataDir, demoURL)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ = st.UserByEmail(ctx, "admin@demo.test")
	if ok, _ := secrets.CheckPassword(admin.PasswordHash, fourth.AdminPassword); !fourth.AdminPasswordNew || fourth.AdminPassword == first.AdminPassword || !ok {
		t.Errorf("a lost admin password was not replaced: %+v", fourth)
	}
	if got := counts(); got != [3]int{1, 1, 1} {
		t.Errorf("after reseeding: tenants, users, clients = %v, want one of each", got)
	}

	// An operator turned the demo's Require TFA off: reseeding keeps it off.
	if err := st.SetTenantRequireTFA(ctx, tenant.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := seedDev(ctx, st, key, dataDir, demoURL); err != nil {
		t.Fatal(err)
	}
	if tenant, err = st.TenantBySlug(ctx, "demo"); err != nil || tenant.RequireTFA {
		t.Errorf("reseeding changed the demo tenant's policy back: %+v, %v", tenant, err)
	}
	// After the admin changed the password, the file's one is not printed.
	admin, err = st.UserByEmail(ctx, demoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := secrets.HashPassword("a password the admin chose", secrets.DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetPasswordHash(ctx, admin.ID, hash); err != nil {
		t.Fatal(err)
	}
	changed, err := seedDev(ctx, st, key, dataDir, demoURL)
	if err != nil {
		t.Fatal(err)
	}
	if !changed.AdminPasswordChanged || changed.AdminPassword != "" || changed.AdminPasswordNew {
		t.Errorf("seed after a password change: %+v", changed)
	}
	var banner strings.Builder
	printDevBanner(&banner, config.Config{Issuer: "http://127.0.0.1:8080"}, started{DemoURL: demoURL, DemoSeed: changed})
	if strings.Contains(banner.String(), first.AdminPassword) || !strings.Contains(banner.String(), "no longer works") {
		t.Errorf("banner after a password change:\n%s", banner.String())
	}
}

// TestServeDev starts `serve --dev` on free ports, checks that the provider
// and the demo app answer, and stops it as a signal would.
func TestServeDev(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole server")
	}
	dataDir := t.TempDir()
	// Two port-0 addresses must still differ as strings.
	env := map[string]string{"PORTCULLIS_DEMO_LISTEN": "localhost:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	up := make(chan started, 1)
	done := make(chan result, 1)
	go func() {
		done <- runCLIContext(ctx, t, env, "", func(s started) { up <- s },
			"serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn")
	}()
	var s started
	select {
	case s = <-up:
	case r := <-done:
		t.Fatalf("serve --dev stopped: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("serve --dev did not start within 30 s")
	}

	for _, u := range []string{
		"http://" + s.Addr + "/.well-known/openid-configuration",
		"http://" + s.Addr + "/health/alive",
		s.DemoURL + "/",
	} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d\n%s", u, resp.StatusCode, body)
		}
	}
	if s.DemoSeed.AdminEmail != "admin@demo.test" || s.DemoSeed.AdminPassword == "" {
		t.Errorf("seed: %+v", s.DemoSeed)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "secrets.key")); err != nil {
		t.Errorf("no dev secrets key in the data directory: %v", err)
	}

	cancel()
	select {
	case r := <-done:
		if r.code != exitOK {
			t.Errorf("serve --dev: exit %d\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"Sign in at   " + s.DemoURL + "/", "admin@demo.test", s.DemoSeed.AdminPassword, "Issuer       http://127.0.0.1:8080",
			"Your account http://127.0.0.1:8080/account", "Admin        http://127.0.0.1:8080/admin"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("banner lacks %q:\n%s", want, r.stdout)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve --dev did not stop within 20 s")
	}
}
