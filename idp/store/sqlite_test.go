package store_test

import (
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

func TestConformance_SQLite(t *testing.T) {
	storetest.Run(t, storetest.OpenSQLite)
	storetest.RunClock(t, storetest.SQLiteConfig)
}
