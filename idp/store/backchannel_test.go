package store_test

import (
	"fmt"
	"testing"
	"time"

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

// BenchmarkEndTenantSessionsWithLogouts10k times EndTenantSessions on
// 10,000 live sessions each signed into two apps with a back-channel
// logout URI, so the transaction also writes 20,000 deliveries. Run it with
//
//	go test ./idp/store -run '^$' -bench EndTenantSessionsWithLogouts -benchtime 3x
func BenchmarkEndTenantSessionsWithLogouts10k(b *testing.B) {
	const n = 10_000
	for name, open := range map[string]func(testing.TB) *store.Store{"sqlite": storetest.OpenSQLite, "postgres": storetest.OpenPostgres} {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			ctx := b.Context()
			var clients []string
			for i := range 2 {
				c := &store.Client{Name: fmt.Sprint("rp", i), RedirectURIs: store.StringList{"https://rp.example/cb"},
					BackchannelLogoutURI: "https://rp.example/bcl", Scopes: store.StringList{"openid"}}
				if err := s.CreateClient(ctx, c); err != nil {
					b.Fatal(err)
				}
				clients = append(clients, c.ID)
			}
			for b.Loop() {
				b.StopTimer()
				tn := storetest.NewTenant(b, s)
				u := storetest.NewUser(b, s, tn.ID)
				now := time.Now().UTC()
				var sessions []store.BrowserSession
				var links []map[string]any
				for range n {
					id := store.NewID()
					sessions = append(sessions, store.BrowserSession{ID: id, SecretHash: "h-" + id, UserID: u.ID, TenantID: tn.ID,
						AuthTime: now, AMR: store.StringList{"pwd"}, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
					for _, c := range clients {
						links = append(links, map[string]any{"session_id": id, "client_id": c, "created_at": now})
					}
				}
				db := s.DB().WithContext(ctx)
				if err := db.CreateInBatches(sessions, 1000).Error; err != nil {
					b.Fatal(err)
				}
				if err := db.Table("session_clients").CreateInBatches(links, 1000).Error; err != nil {
					b.Fatal(err)
				}
				b.StartTimer()

				ended, err := s.EndTenantSessions(ctx, tn.ID, "", "policy")

				b.StopTimer()
				if err != nil || len(ended) != n {
					b.Fatalf("ended %d, err %v", len(ended), err)
				}
				if ds, _ := s.ListLogoutDeliveries(ctx, tn.ID, 3*n); len(ds) != 2*n {
					b.Fatalf("%d deliveries, want %d", len(ds), 2*n)
				}
				b.StartTimer()
			}
		})
	}
}
