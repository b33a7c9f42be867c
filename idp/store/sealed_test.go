package store_test

import (
	"errors"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestNoCipher: a store opened without Config.Cipher refuses what it would
// have to seal or open, and does the rest.
func TestNoCipher(t *testing.T) {
	cfg := storetest.SQLiteConfig(t)
	cfg.Cipher = nil
	s := storetest.Open(t, cfg)
	ctx := t.Context()
	u := storetest.NewUser(t, s, storetest.NewTenant(t, s).ID)
	if err := s.BeginEnrollment(ctx, u.ID, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"); !errors.Is(err, store.ErrNoCipher) {
		t.Errorf("BeginEnrollment: err = %v, want ErrNoCipher", err)
	}
	if _, err := s.OAuthHMACSecret(ctx); !errors.Is(err, store.ErrNoCipher) {
		t.Errorf("OAuthHMACSecret: err = %v, want ErrNoCipher", err)
	}
	if has, err := s.HasActiveAuthenticator(ctx, u.ID); err != nil || has {
		t.Errorf("HasActiveAuthenticator = %v, %v; want false, nil", has, err)
	}
}
