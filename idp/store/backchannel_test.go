package store_test

import (
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestLogoutOutbox runs the back-channel logout part of the conformance
// suite on every backend configured here, so `go test -run Logout` covers
// it without the whole suite.
func TestLogoutOutbox(t *testing.T) {
	for name, config := range storetest.Configs(t) {
		t.Run(name, func(t *testing.T) {
			storetest.RunLogout(t, func(t testing.TB) *store.Store { return storetest.Open(t, config(t)) }, config)
		})
	}
}
