package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
)

func testSettings(t *testing.T, s *store.Store) {
	ctx := t.Context()
	_, err := s.Setting(ctx, "global-secret")
	mustIs(t, "Setting(missing)", err, store.ErrNotFound)

	v, err := s.SettingOrCreate(ctx, "global-secret", func() (string, error) { return "first", nil })
	mustNil(t, "SettingOrCreate", err)
	if v != "first" {
		t.Errorf("SettingOrCreate = %q, want first", v)
	}
	v, err = s.SettingOrCreate(ctx, "global-secret", func() (string, error) {
		t.Error("value generated although the setting exists")
		return "second", nil
	})
	mustNil(t, "SettingOrCreate(existing)", err)
	if v != "first" {
		t.Errorf("SettingOrCreate(existing) = %q, want first", v)
	}
	_, err = s.SettingOrCreate(ctx, "other", func() (string, error) { return "", errAbort })
	mustIs(t, "SettingOrCreate(failing value)", err, errAbort)
	_, err = s.Setting(ctx, "other")
	mustIs(t, "Setting after a failed create", err, store.ErrNotFound)
}

// testSettingRace starts ten replicas at once on an empty database: each
// generates its own secret, and all must end up using the same one.
func testSettingRace(t *testing.T, s *store.Store) {
	ctx := t.Context()
	const replicas = 10
	got := make([]string, replicas)
	var generated atomic.Int32
	errs := race(replicas, func(i int) error {
		v, err := s.SettingOrCreate(ctx, "cookie-keys", func() (string, error) {
			generated.Add(1)
			return fmt.Sprint("value-from-", i), nil
		})
		got[i] = v
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	stored, err := s.Setting(ctx, "cookie-keys")
	mustNil(t, "Setting", err)
	for i, v := range got {
		if v != stored {
			t.Errorf("replica %d uses %q, the database holds %q", i, v, stored)
		}
	}
	if generated.Load() == 0 {
		t.Error("no value was generated")
	}
}

func signingKey(kid string) *store.SigningKey {
	return &store.SigningKey{KID: kid, Alg: "RS256", PrivateKey: "sealed:" + kid, PublicJWK: `{"kid":"` + kid + `"}`}
}

func kids(ks []store.SigningKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.KID)
	}
	return out
}

func testSigningKeys(t *testing.T, s *store.Store) {
	ctx := t.Context()
	n := now()
	v0, err := s.SigningKeysVersion(ctx)
	mustNil(t, "SigningKeysVersion", err)

	k1 := signingKey("k1")
	k1.CreatedAt = n.Add(-2 * time.Hour)
	mustNil(t, "AddSigningKey", s.AddSigningKey(ctx, k1))
	mustIs(t, "AddSigningKey(same kid)", s.AddSigningKey(ctx, signingKey("k1")), store.ErrConflict)
	v1, err := s.SigningKeysVersion(ctx)
	mustNil(t, "SigningKeysVersion", err)
	if v1 == v0 {
		t.Errorf("version %q did not change when a key was added", v1)
	}

	mustNil(t, "RotateSigningKeys", s.RotateSigningKeys(ctx, signingKey("k2")))
	v2, err := s.SigningKeysVersion(ctx)
	mustNil(t, "SigningKeysVersion", err)
	if v2 == v1 {
		t.Errorf("version %q did not change on rotation", v2)
	}

	// A key retired long ago must drop out of the JWKS.
	old := signingKey("k0")
	old.CreatedAt, old.RetiredAt = n.Add(-72*time.Hour), new(n.Add(-48*time.Hour))
	mustNil(t, "AddSigningKey(retired)", s.AddSigningKey(ctx, old))

	ks, err := s.PublishedSigningKeys(ctx, 24*time.Hour)
	mustNil(t, "PublishedSigningKeys", err)
	if got := kids(ks); !slices.Equal(got, []string{"k2", "k1"}) {
		t.Fatalf("PublishedSigningKeys(24h) = %q, want k2, k1", got)
	}
	if ks[0].RetiredAt != nil {
		t.Error("the new key is retired")
	}
	if ks[1].RetiredAt == nil || ks[1].RetiredAt.Before(n) {
		t.Errorf("the old key was not retired at rotation: RetiredAt %v", ks[1].RetiredAt)
	}
	if ks[0].Alg != "RS256" || ks[0].PrivateKey != "sealed:k2" || ks[0].PublicJWK != `{"kid":"k2"}` {
		t.Errorf("key fields = %+v", ks[0])
	}
	ks, err = s.PublishedSigningKeys(ctx, 96*time.Hour)
	mustNil(t, "PublishedSigningKeys", err)
	if got := kids(ks); !slices.Equal(got, []string{"k2", "k1", "k0"}) {
		t.Errorf("PublishedSigningKeys(96h) = %q, want k2, k1, k0", got)
	}
}

// testFirstSigningKeyOnce: replicas starting together on an empty database
// each offer a first key; exactly one is stored. Replica A adds its key in
// a transaction still open while replica B offers its own: B must wait for
// A and then add nothing (a check that cannot see A's uncommitted row
// would add a second live key). Once a key exists no first key is added (a
// rotation is RotateSigningKeys' job).
func testFirstSigningKeyOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	var addedB bool
	var errB error
	done := make(chan struct{})
	err := s.InTx(ctx, func(txCtx context.Context) error {
		addedA, err := s.AddFirstSigningKey(txCtx, signingKey("replica-a"))
		if err != nil || !addedA {
			return fmt.Errorf("replica A: added %v, %v", addedA, err)
		}
		go func() {
			defer close(done)
			addedB, errB = s.AddFirstSigningKey(ctx, signingKey("replica-b"))
		}()
		select {
		case <-done: // B did not wait for A
		case <-time.After(300 * time.Millisecond):
		}
		return nil
	})
	mustNil(t, "replica A's transaction", err)
	<-done
	mustNil(t, "AddFirstSigningKey(replica B)", errB)
	ks, err := s.PublishedSigningKeys(ctx, 0)
	mustNil(t, "PublishedSigningKeys", err)
	if addedB || len(ks) != 1 || ks[0].KID != "replica-a" {
		t.Fatalf("replica B added %v; live keys %v; want only replica-a", addedB, kids(ks))
	}
	again, err := s.AddFirstSigningKey(ctx, signingKey("late"))
	mustNil(t, "AddFirstSigningKey(late)", err)
	if again {
		t.Error("a first key was added while one is live")
	}
}
