package store_test

import (
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// BenchmarkGetAccessTokenSession measures the hot path of every API call
// (introspection, userinfo): one token row and its client, decoded into a
// prototype session.
func BenchmarkGetAccessTokenSession(b *testing.B) {
	forEachBenchStore(b, func(b *testing.B, s *store.Store) {
		ctx := b.Context()
		c := benchClient(b, s)
		sess := store.NewSession()
		sess.Subject, sess.SessionID = "user-1", "sid-1"
		sess.Claims.AuthenticationMethodsReferences = []string{"pwd", "otp"}
		sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
		req := fosite.NewRequest()
		req.ID, req.Client, req.Session = "req-1", c, sess
		req.GrantedScope = fosite.Arguments{"openid"}
		if err := s.CreateAccessTokenSession(ctx, "at-1", req); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetAccessTokenSession(ctx, "at-1", store.NewSession()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// forEachBenchStore runs f on a fresh SQLite store and, when configured, a
// fresh PostgreSQL one.
func forEachBenchStore(b *testing.B, f func(b *testing.B, s *store.Store)) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{
		{"sqlite", storetest.OpenSQLite},
		{"postgres", storetest.OpenPostgres},
	} {
		b.Run(backend.name, func(b *testing.B) { f(b, backend.open(b)) })
	}
}

// benchClient registers a plain client for the benchmarks' tokens.
func benchClient(b *testing.B, s *store.Store) *store.Client {
	b.Helper()
	c := &store.Client{Name: "bench", RedirectURIs: store.StringList{"https://rp.example/cb"}, Scopes: store.StringList{"openid"}}
	if err := s.CreateClient(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	return c
}
