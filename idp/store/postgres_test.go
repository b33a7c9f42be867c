package store_test

import (
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// TestConformance_Postgres needs PORTCULLIS_TEST_POSTGRES_DSN; without it
// the test is skipped, or fails when CI=true.
func TestConformance_Postgres(t *testing.T) {
	storetest.PostgresDSN(t)
	storetest.Run(t, storetest.OpenPostgres)
	storetest.RunClock(t, storetest.PostgresConfig)
}
