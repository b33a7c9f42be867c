package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/ory/fosite"

	"github.com/portcullis-idp/portcullis/idp/store"
)

var errAbort = errors.New("storetest: abort")

func tenantExists(t testing.TB, ctx context.Context, s *store.Store, slug string) bool {
	t.Helper()
	_, err := s.TenantBySlug(ctx, slug)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TenantBySlug(%q): %v", slug, err)
	}
	return err == nil
}

func testTxRollback(t *testing.T, s *store.Store) {
	ctx := t.Context()
	txCtx, err := s.BeginTX(ctx)
	mustNil(t, "BeginTX", err)
	mustNil(t, "CreateTenant", s.CreateTenant(txCtx, &store.Tenant{Slug: "rolled-back", Name: "R"}))
	if !tenantExists(t, txCtx, s, "rolled-back") {
		t.Error("the transaction does not see its own write")
	}
	mustNil(t, "Rollback", s.Rollback(txCtx))
	if tenantExists(t, ctx, s, "rolled-back") {
		t.Error("a rolled back write is visible")
	}
}

func testTxCommit(t *testing.T, s *store.Store) {
	ctx := t.Context()
	txCtx, err := s.BeginTX(ctx)
	mustNil(t, "BeginTX", err)
	mustNil(t, "CreateTenant", s.CreateTenant(txCtx, &store.Tenant{Slug: "committed", Name: "C"}))
	mustNil(t, "Commit", s.Commit(txCtx))
	if !tenantExists(t, ctx, s, "committed") {
		t.Error("a committed write is missing")
	}
}

func testTxMisuse(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if err := s.Commit(ctx); err == nil {
		t.Error("Commit without a transaction succeeded")
	}
	if err := s.Rollback(ctx); err == nil {
		t.Error("Rollback without a transaction succeeded")
	}
	txCtx, err := s.BeginTX(ctx)
	mustNil(t, "BeginTX", err)
	defer func() { _ = s.Rollback(txCtx) }()
	if _, err := s.BeginTX(txCtx); err == nil {
		t.Error("BeginTX inside a transaction succeeded")
	}
}

func testInTx(t *testing.T, s *store.Store) {
	ctx := t.Context()
	err := s.InTx(ctx, func(ctx context.Context) error {
		mustNil(t, "CreateTenant", s.CreateTenant(ctx, &store.Tenant{Slug: "in-tx-error", Name: "E"}))
		return errAbort
	})
	mustIs(t, "InTx", err, errAbort)
	if tenantExists(t, ctx, s, "in-tx-error") {
		t.Error("InTx kept a write although fn failed")
	}

	// A nested InTx joins the outer transaction, so the outer failure
	// undoes the inner write too.
	err = s.InTx(ctx, func(ctx context.Context) error {
		mustNil(t, "outer", s.CreateTenant(ctx, &store.Tenant{Slug: "outer", Name: "O"}))
		if err := s.InTx(ctx, func(ctx context.Context) error {
			return s.CreateTenant(ctx, &store.Tenant{Slug: "inner", Name: "I"})
		}); err != nil {
			return err
		}
		return errAbort
	})
	mustIs(t, "nested InTx", err, errAbort)
	if tenantExists(t, ctx, s, "outer") || tenantExists(t, ctx, s, "inner") {
		t.Error("nested InTx kept a write although the outer fn failed")
	}

	func() {
		defer func() {
			if p := recover(); p != errAbort {
				t.Errorf("recovered %v, want the panic to pass through InTx", p)
			}
		}()
		_ = s.InTx(ctx, func(ctx context.Context) error {
			mustNil(t, "CreateTenant", s.CreateTenant(ctx, &store.Tenant{Slug: "in-tx-panic", Name: "P"}))
			panic(errAbort)
		})
	}()
	if tenantExists(t, ctx, s, "in-tx-panic") {
		t.Error("InTx kept a write although fn panicked")
	}

	mustNil(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		return s.CreateTenant(ctx, &store.Tenant{Slug: "in-tx-ok", Name: "K"})
	}))
	if !tenantExists(t, ctx, s, "in-tx-ok") {
		t.Error("InTx lost a write although fn succeeded")
	}
}

// testTxFosite checks that the fosite methods take their connection from
// ctx: a rolled back code exchange leaves the code usable and no token.
func testTxFosite(t *testing.T, s *store.Store) {
	ctx := t.Context()
	c := mustClient(t, s)
	req := newRequest(c, newSession("nina", "sid-nina"))
	mustNil(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(ctx, "code-1", req))

	txCtx, err := s.BeginTX(ctx)
	mustNil(t, "BeginTX", err)
	mustNil(t, "Invalidate in tx", s.InvalidateAuthorizeCodeSession(txCtx, "code-1"))
	mustNil(t, "CreateAccessTokenSession in tx", s.CreateAccessTokenSession(txCtx, "at-1", req))
	mustNil(t, "CreateRefreshTokenSession in tx", s.CreateRefreshTokenSession(txCtx, "rt-1", "at-1", req))
	mustNil(t, "DeleteOpenIDConnectSession in tx", s.DeleteOpenIDConnectSession(txCtx, "code-1"))
	mustNil(t, "Rollback", s.Rollback(txCtx))

	_, err = s.GetAuthorizeCodeSession(ctx, "code-1", store.NewSession())
	mustNil(t, "code after rollback", err)
	_, err = s.GetAccessTokenSession(ctx, "at-1", store.NewSession())
	mustIs(t, "access token after rollback", err, fosite.ErrNotFound)
	_, err = s.GetRefreshTokenSession(ctx, "rt-1", store.NewSession())
	mustIs(t, "refresh token after rollback", err, fosite.ErrNotFound)
}
