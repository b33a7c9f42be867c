package store_test

import (
	"context"
	"errors"
	"testing"

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
