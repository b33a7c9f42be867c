package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// revokeBenchSessions is how many sessions BenchmarkRevokeTenant10kSessions
// ends at once: a large tenant clearing every session when it turns
// Require TFA on.
const revokeBenchSessions = 10_000

// BenchmarkRevokeTenant10kSessions times RevokeTenantSessions on a tenant
// with 10,000 live sessions, each with an access token, a refresh token and
// a relying app it signed into: one transaction that ends the sessions,
// deletes the access tokens, deactivates the refresh tokens, collects the
// apps to notify and writes the audit event. Setup is not timed; PostgreSQL
// runs when PORTCULLIS_TEST_POSTGRES_DSN is set. Run it with
//
//	go test ./idp/store -run '^$' -bench RevokeTenant10k -benchtime 3x
func BenchmarkRevokeTenant10kSessions(b *testing.B) {
	forEachBenchStore(b, func(b *testing.B, s *store.Store) {
		ctx := b.Context()
		c := benchClient(b, s)
		actor := store.Actor{Via: "cli"}
		var total time.Duration
		runs := 0
		for b.Loop() {
			b.StopTimer()
			tn := storetest.NewTenant(b, s)
			seedTenantSessions(b, s, tn, c.ID, revokeBenchSessions)
			b.StartTimer()

			start := time.Now()
			ended, err := s.RevokeTenantSessions(ctx, tn.ID, "", actor)
			total += time.Since(start)
			runs++

			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if len(ended) != revokeBenchSessions {
				b.Fatalf("ended %d sessions, want %d", len(ended), revokeBenchSessions)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Microseconds())/float64(runs)/revokeBenchSessions, "us/session")
	})
}

// seedTenantSessions inserts n live sessions of one user of tn, each with an
// access and a refresh token issued to clientID and a session_clients link,
// in batches (inserting them one by one would take longer than the
// benchmark).
func seedTenantSessions(b *testing.B, s *store.Store, tn *store.Tenant, clientID string, n int) {
	b.Helper()
	ctx := b.Context()
	u := storetest.NewUser(b, s, tn.ID)
	now := time.Now().UTC().Truncate(time.Microsecond)
	const batch = 1000
	db := s.DB().WithContext(ctx)
	for first := 0; first < n; first += batch {
		size := min(batch, n-first)
		sessions := make([]store.BrowserSession, size)
		tokens := make([]map[string]any, 0, 2*size)
		links := make([]map[string]any, 0, size)
		for i := range sessions {
			id := fmt.Sprintf("%s-%06d", tn.ID, first+i)
			sessions[i] = store.BrowserSession{
				ID: id, SecretHash: "hash-" + id, UserID: u.ID, TenantID: tn.ID,
				AuthTime: now, AMR: store.StringList{"pwd", "otp"}, CreatedAt: now, LastSeenAt: now,
				ExpiresAt: now.Add(12 * time.Hour), UserAgent: "bench", IP: "192.0.2.1",
			}
			for _, kind := range []string{"access", "refresh"} {
				tokens = append(tokens, map[string]any{
					"kind": kind, "signature": kind + "-" + id, "request_id": "req-" + id,
					"client_id": clientID, "subject": u.ID, "session_id": id, "active": true,
					"requested_at": now, "expires_at": now.Add(time.Hour), "session_data": "{}",
				})
			}
			links = append(links, map[string]any{"session_id": id, "client_id": clientID, "created_at": now})
		}
		if err := db.Create(&sessions).Error; err != nil {
			b.Fatalf("insert sessions: %v", err)
		}
		if err := db.Table("oauth_tokens").Create(tokens).Error; err != nil {
			b.Fatalf("insert tokens: %v", err)
		}
		if err := db.Table("session_clients").Create(links).Error; err != nil {
			b.Fatalf("insert session_clients: %v", err)
		}
	}
}
