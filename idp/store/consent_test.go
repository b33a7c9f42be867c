package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestSaveConsentConcurrent: consents saved at the same moment for the same
// user and client are merged, none lost, on every backend.
func TestSaveConsentConcurrent(t *testing.T) {
	for name, open := range storetest.Backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := t.Context()
			u := storetest.NewUser(t, s, storetest.NewTenant(t, s).ID)
			c := &store.Client{Name: "rp"}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.SaveConsent(ctx, u.ID, c.ID, []string{fmt.Sprintf("scope-%d", i)})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("save %d: %v", i, err)
				}
			}
			got, err := s.ConsentedScopes(ctx, u.ID, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if !slices.Contains(got, fmt.Sprintf("scope-%d", i)) {
					t.Fatalf("scope-%d lost: %v", i, got)
				}
			}
		})
	}
}
