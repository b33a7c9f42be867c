package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/portcullis-idp/portcullis/idp/claims"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// What `serve --dev` seeds.
const (
	demoTenantSlug   = "demo"
	demoTenantName   = "Demo Company"
	demoAdminEmail   = "admin@demo.test"
	demoAdminName    = "Demo Admin"
	demoClientID     = "demo-app"
	demoClientName   = "Portcullis demo app"
	adminPasswordTxt = "demo-admin-password.txt"
	clientSecretTxt  = "demo-client-secret.txt"
)

// devSeed is what seedDev made or found.
type devSeed struct {
	TenantSlug string
	AdminEmail string
	// AdminPassword is the admin's password as generated (and kept in
	// AdminPasswordFile); empty if unknown.
	AdminPassword     string
	AdminPasswordFile string
	// AdminPasswordNew says the password was generated in this run.
	AdminPasswordNew bool
	// AdminPasswordChanged says the password in AdminPasswordFile no
	// longer works (the admin changed it); AdminPassword is then empty.
	AdminPasswordChanged bool
	ClientID             string
	ClientSecret         string
}

// seedDev makes sure the development database holds the demo tenant, its
// admin and the demo app's client, creating only what is missing, so that
// it can run at every start. The demo client has the demo's start page as
// post-logout redirect URI and its /backchannel-logout as back-channel
// logout URI. demoURL is the demo app's base URL, such as
// http://127.0.0.1:8081; the client's redirect URIs are derived from it.
//
// Generated secrets are kept in files (0600) in dataDir, beside the
// database, so that later starts can print the admin password again and the
// demo app can reuse its client secret:
//
//   - the admin user is created with a new password when missing; when it
//     exists but its password file is gone, it gets a new password, since
//     nobody could sign in as it otherwise;
//   - the client is created with a new secret when missing; it is deleted
//     and created again when its secret file is gone or no longer matches,
//     or when its URIs differ from what demoURL calls for.
//
// The tenant is created with RequireTFA on, so that the demo shows what a
// user of such a tenant sees: the first sign-in goes through setting up an
// authenticator app (QR code, recovery key, first code). A tenant that
// exists already is left as it is, so an operator who turned the policy off
// (portcullis tenant require-tfa --slug demo --off) keeps it off.
func seedDev(ctx context.Context, st *store.Store, masterKey []byte, dataDir, demoURL string) (devSeed, error) {
	seed := devSeed{
		TenantSlug:        demoTenantSlug,
		AdminEmail:        demoAdminEmail,
		AdminPasswordFile: filepath.Join(dataDir, adminPasswordTxt),
		ClientID:          demoClientID,
	}

	tenant, err := st.TenantBySlug(ctx, demoTenantSlug)
	if errors.Is(err, store.ErrNotFound) {
		tenant = &store.Tenant{Slug: demoTenantSlug, Name: demoTenantName, RequireTFA: true}
		err = st.CreateTenant(ctx, tenant)
		if errors.Is(err, store.ErrConflict) { // another process seeded it just now
			tenant, err = st.TenantBySlug(ctx, demoTenantSlug)
		}
	}
	if err != nil {
		return seed, fmt.Errorf("seed demo tenant: %w", err)
	}

	if err := seedAdmin(ctx, st, tenant, &seed); err != nil {
		return seed, fmt.Errorf("seed demo admin: %w", err)
	}
	if err := seedClient(ctx, st, masterKey, filepath.Join(dataDir, clientSecretTxt), demoURL, &seed); err != nil {
		return seed, fmt.Errorf("seed demo client: %w", err)
	}
	return seed, nil
}

func seedAdmin(ctx context.Context, st *store.Store, tenant *store.Tenant, seed *devSeed) error {
	user, err := st.UserByEmail(ctx, demoAdminEmail)
	switch {
	case errors.Is(err, store.ErrNotFound):
		user = nil
	case err != nil:
		return err
	}
	if user != nil {
		pw, err := readSecretFile(seed.AdminPasswordFile)
		if err == nil {
			// Never print a password that no longer works.
			if ok, _ := secrets.CheckPassword(user.PasswordHash, pw); !ok {
				seed.AdminPasswordChanged = true
				return nil
			}
			seed.AdminPassword = pw
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}

	// The one argon2 hash of a start, and only when there is no password yet.
	pw := secrets.GeneratePassword()
	hash, err := secrets.HashPassword(pw, secrets.DefaultArgon2)
	if err != nil {
		return err
	}
	if err := writeSecretFile(seed.AdminPasswordFile, pw); err != nil {
		return err
	}
	if user != nil {
		err = st.SetPasswordHash(ctx, user.ID, hash)
	} else {
		err = st.CreateUser(ctx, &store.User{
			TenantID:     tenant.ID,
			Email:        demoAdminEmail,
			Name:         demoAdminName,
			PasswordHash: hash,
			Role:         store.RoleAdmin,
		})
	}
	if err != nil {
		return err
	}
	seed.AdminPassword, seed.AdminPasswordNew = pw, true
	return nil
}

func seedClient(ctx context.Context, st *store.Store, masterKey []byte, secretFile, demoURL string, seed *devSeed) error {
	want := &store.Client{
		ID:                     demoClientID,
		Name:                   demoClientName,
		Public:                 false,
		RedirectURIs:           store.StringList{demoURL + "/callback"},
		PostLogoutRedirectURIs: store.StringList{demoURL + "/"},
		BackchannelLogoutURI:   demoURL + "/backchannel-logout",
		SkipConsent:            false,
		RequirePKCE:            true,
		Scopes:                 slices.Clone(claims.SupportedScopes),
		GrantTypes:             store.StringList{grantAuthorizationCode, grantRefreshToken},
	}

	have, err := st.ClientByID(ctx, demoClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		have = nil
	case err != nil:
		return err
	}
	if have != nil {
		secret, err := readSecretFile(secretFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err == nil && secrets.ClientSecretMatches(masterKey, secret, have.SecretHash) &&
			slices.Equal(have.RedirectURIs, want.RedirectURIs) &&
			slices.Equal(have.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) &&
			have.BackchannelLogoutURI == want.BackchannelLogoutURI {
			seed.ClientSecret = secret
			return nil
		}
		// The secret is lost (or the demo moved): start the client afresh.
		if err := st.DeleteClient(ctx, demoClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}

	secret, hash, err := secrets.NewClientSecret(masterKey)
	if err != nil {
		return err
	}
	if err := writeSecretFile(secretFile, secret); err != nil {
		return err
	}
	want.SecretHash = hash
	if err := st.CreateClient(ctx, want); err != nil {
		return err
	}
	seed.ClientSecret = secret
	return nil
}

// readSecretFile returns the trimmed content of a secret file; a missing
// or empty file is reported as fs.ErrNotExist.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty: %w", path, fs.ErrNotExist)
	}
	return v, nil
}

// writeSecretFile replaces path with value, readable by the owner only.
// It writes a temporary file and renames it, so that a crash never leaves
// half a secret behind and an old file's looser mode is not kept.
func writeSecretFile(path, value string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.WriteString(value + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
