package store_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestRequestCacheReadsAClientOnce: inside one request context a client is
// read once; a new request sees a deletion at once.
func TestRequestCacheReadsAClientOnce(t *testing.T) {
	s := storetest.OpenSQLite(t)
	ctx := context.Background()
	c := &store.Client{Name: "cached", RedirectURIs: []string{"https://rp.example/cb"}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	req := store.WithRequestCache(ctx)
	first, err := s.ClientByID(req, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	again, err := s.ClientByID(req, c.ID)
	if err != nil || again != first {
		t.Fatalf("within one request the client was read again: %v", err)
	}
	if _, err := s.ClientByID(store.WithRequestCache(ctx), c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a new request still sees the deleted client: %v", err)
	}
	if _, err := s.ClientByID(req, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing client: %v", err)
	}
}

// TestCodeExchangeReadsItsRowsOnce: inside one request, the code, its
// PKCE row and its OpenID Connect session (keyed by the raw code) come
// from one statement, the code's second read included; a deletion or the
// code's invalidation in the request is seen by the reads after it, and
// the single use is still decided by the database.
func TestCodeExchangeReadsItsRowsOnce(t *testing.T) {
	for name, config := range storetest.Configs(t) {
		t.Run(name, func(t *testing.T) {
			var reads atomic.Int64
			cfg := config(t)
			cfg.StatementObserver = func(_ context.Context, sql string) {
				if strings.HasPrefix(strings.TrimSpace(sql), "SELECT") && strings.Contains(sql, "oauth_tokens") {
					reads.Add(1)
				}
			}
			s := storetest.Open(t, cfg)
			ctx := context.Background()
			c := &store.Client{Name: "rp", RedirectURIs: []string{"https://rp.example/cb"}, Public: true}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			code, sig := "key-part.signature-part", "signature-part"
			r := &fosite.Request{ID: "req-1", Client: c, RequestedAt: time.Now(), Session: store.NewSession(),
				GrantedScope: fosite.Arguments{"openid"}, Form: url.Values{"code_challenge": {"x"}}}
			r.Session.SetExpiresAt(fosite.AuthorizeCode, time.Now().Add(time.Minute))
			for _, err := range []error{
				s.CreateAuthorizeCodeSession(ctx, sig, r),
				s.CreatePKCERequestSession(ctx, sig, r),
				s.CreateOpenIDConnectSession(ctx, code, r),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			reads.Store(0)
			req := store.WithRequestCache(ctx)
			if _, err := s.GetAuthorizeCodeSession(req, sig, store.NewSession()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetPKCERequestSession(req, sig, store.NewSession()); err != nil {
				t.Fatal(err)
			}
			if err := s.DeletePKCERequestSession(req, sig); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetPKCERequestSession(req, sig, store.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("PKCE row read after its deletion: %v", err)
			}
			if _, err := s.GetAuthorizeCodeSession(req, sig, store.NewSession()); err != nil {
				t.Fatal(err)
			}
			// Another replica uses the code meanwhile: the conditional
			// update still refuses the second use.
			if err := s.InvalidateAuthorizeCodeSession(ctx, sig); err != nil {
				t.Fatal(err)
			}
			if err := s.InvalidateAuthorizeCodeSession(req, sig); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
				t.Errorf("second use of the code: %v", err)
			}
			if _, err := s.GetAuthorizeCodeSession(req, sig, store.NewSession()); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
				t.Errorf("code read after its invalidation: %v", err)
			}
			if _, err := s.GetOpenIDConnectSession(req, code, &fosite.Request{Session: store.NewSession()}); err != nil {
				t.Fatal(err)
			}
			if n := reads.Load(); n != 1 {
				t.Errorf("%d reads of oauth_tokens in the request, want 1", n)
			}
			// Outside a request cache every read goes to the database.
			if _, err := s.GetOpenIDConnectSession(ctx, code, &fosite.Request{Session: store.NewSession()}); err != nil {
				t.Fatal(err)
			}
			if n := reads.Load(); n != 2 {
				t.Errorf("a read without a request cache was not sent: %d reads", n)
			}
		})
	}
}
