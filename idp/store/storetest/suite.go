// Package storetest is the contract every store backend must pass, and the
// helpers that open a fresh store for tests.
//
// A backend's test is a few lines:
//
//	func TestConformance_SQLite(t *testing.T) {
//		storetest.Run(t, storetest.OpenSQLite)
//		storetest.RunClock(t, storetest.SQLiteConfig)
//	}
//
// Every case gets a fresh, migrated, empty store, so cases never depend on
// one another or on their order. Errors are checked with errors.Is, and the
// contention cases use real goroutines: exactly one racer must win and the
// others must lose cleanly (a CAS failure, never SQLITE_BUSY).
//
// Only tests import this package; production code must not.
package storetest

import (
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
)

var cases = []struct {
	name string
	run  func(*testing.T, *store.Store)
}{
	{"AuthorizeCode/CreateGetInvalidate", testAuthorizeCode},
	{"AuthorizeCode/ConcurrentExchangeOneWinner", testAuthorizeCodeRace},
	{"AccessToken/CreateGetDelete", testAccessToken},
	{"RefreshToken/Rotate", testRefreshRotate},
	{"RefreshToken/ConcurrentRotationOneWinner", testRefreshRotateRace},
	{"Revoke/ByRequestID", testRevokeByRequestID},
	{"PKCE/RoundTrip", testPKCE},
	{"OIDCSession/RoundTripIntoRequesterSession", testOIDCSession},
	{"PAR/CreateGetDelete", testPAR},
	{"Form/SecretsNotPersisted", testFormSecrets},
	{"Session/CustomFieldsSurviveJSONAndClone", testSessionFields},
	{"Client/GetClient", testGetClient},
	{"Client/PrefetchIntrospection", testPrefetchIntrospection},
	{"Client/AssertionJTI", testClientAssertionJTI},
	{"Tx/RollbackDiscards", testTxRollback},
	{"Tx/CommitKeeps", testTxCommit},
	{"Tx/Misuse", testTxMisuse},
	{"Tx/InTx", testInTx},
	{"Tx/FositeWritesFollowContext", testTxFosite},
	{"Directory/Tenants", testTenants},
	{"Directory/Users", testUsers},
	{"Directory/UserAndTenantInOneRead", testUserAndTenant},
	{"Directory/Clients", testClients},
	{"Directory/ConsentsMerge", testConsents},
	{"Audit/AppendAndList", testAudit},
	{"Audit/KeysetPaging", testAuditKeyset},
	{"Users/PasswordLinkSingleUseUnderConcurrency", testPasswordLinkSingleUse},
	{"Users/DisableEnableDelete", testDisableDeleteUser},
	{"Users/SearchAndPage", testSearchUsers},
	{"SignInCounters", testSignInCounters},
	{"BrowserSession/Active", testActiveSession},
	{"BrowserSession/ActiveWithUserInOneRead", testActiveSessionWithUser},
	{"BrowserSession/UpdateAuthRotatesSecret", testUpdateSessionAuth},
	{"BrowserSession/EndRevokesTokens", testEndSession},
	{"BrowserSession/ConcurrentEndOneWinner", testEndSessionRace},
	{"BrowserSession/EndTenantKeepsExcepted", testEndTenantSessions},
	{"BrowserSession/EndUser", testEndUserSessions},
	{"BrowserSession/ListUser", testListUserSessions},
	{"BrowserSession/RevokeTokens", testRevokeTokensBySession},
	{"Policy/RequireTFAClearSessions", testRequireTFAClearSessions},
	{"Policy/RequireTFAKeepSessions", testRequireTFAKeepSessions},
	{"Policy/ResetUserMFA", testResetUserMFA},
	{"Policy/RevokeSessions", testRevokeSessions},
	{"Policy/SessionLifetimes", testSessionLifetimes},
	{"Policy/RollbackWhenAuditFails", testPolicyRollback},
	{"AuthRequest/BoundExpiringSingleStep", testAuthRequests},
	{"AuthRequest/ConcurrentAdvanceOneWinner", testAdvanceAuthRequestRace},
	{"Settings/GetOrCreate", testSettings},
	{"Settings/ConcurrentCreateAgree", testSettingRace},
	{"SigningKeys/RotateAndPublish", testSigningKeys},
	{"SigningKeys/ConcurrentFirstKeyOnce", testFirstSigningKeyOnce},
	{"Sealed/OAuthHMACSecret", testOAuthHMACSecret},
	{"Sealed/AuthRequestRecoveryKey", testAuthRequestRecoveryKey},
	{"Sealed/WrittenBeforeStillOpen", testSealedBeforeStillOpen},
	{"Times/StoredAndReadAsUTC", testTimesUTC},
	{"Logout/EnqueueOnEndForClientsWithURI", testLogoutEnqueue},
	{"Logout/ConcurrentClaimsDisjoint", testLogoutClaimExclusive},
	{"Logout/DeliveredAndFailedNeverClaimed", testLogoutDoneNeverClaimed},
	{"WebAuthn/CredentialsAndFactors", testWebAuthnCredentials},
	{"WebAuthn/SignCounterOnlyForward", testWebAuthnSignCounter},
	{"WebAuthn/RemoveLastFactorRace", testRemoveLastFactorRace},
}

// Run runs the contract against the stores newStore opens: each case gets
// its own fresh, migrated, empty store, closed via t.Cleanup.
func Run(t *testing.T, newStore func(testing.TB) *store.Store) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

var clockCases = []struct {
	name string
	run  func(*testing.T, *store.Store, *clock)
}{
	{"Clock/NonUTCClockStoredAsUTC", testClockUTC},
	{"Clock/SessionIdleAndAbsoluteLimits", testClockSessionWindows},
	{"Clock/AuthRequestPARAndJTIExpiry", testClockExpiry},
	{"Clock/PasswordLinkExpiry", testClockPasswordLinkExpiry},
	{"Clock/RetiredKeysWindow", testClockSigningKeys},
	{"Clock/DeleteExpired", testClockDeleteExpired},
	{"Clock/LogoutLeaseExpiry", testClockLogoutLease},
	{"Clock/LogoutEndExpiredSessions", testClockLogoutEndExpired},
	{"Clock/LogoutManyIdleLimits", testClockLogoutManyIdleLimits},
	{"Clock/LogoutRetention", testClockLogoutRetention},
}

// RunClock runs the cases that drive the store's clock (store.Config.Now):
// a fake clock, in a zone west of UTC, that moves only when a case says so.
// newConfig returns the Config of a fresh, empty database, for example
// SQLiteConfig or PostgresConfig; RunClock sets Now, opens and migrates it.
func RunClock(t *testing.T, newConfig func(testing.TB) store.Config) {
	t.Helper()
	for _, tc := range clockCases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			cfg := newConfig(t)
			cfg.Now = c.Now
			tc.run(t, Open(t, cfg), c)
		})
	}
}
