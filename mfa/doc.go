// Package mfa is Portcullis' second factor: TOTP (RFC 6238) enrollment and
// verification, the replay guard, the attempt limit and the recovery paper
// key.
//
// It knows nothing of HTTP, gorm or fosite; of the module it may import
// only idp/secrets (and needs nothing from it today). The HTTP layer (idp)
// calls it; the storage layer (idp/store) implements its Store interface
// and seals the secrets it stores. Time and randomness are parameters
// (Clock, io.Reader), so every test runs on a fake clock and a seeded
// reader.
//
// # Files
//
//	clock.go     Clock, SystemClock (UTC), ClockFunc.
//	secret.go    Secret (base32 of 20 random bytes), NewSecret, ParseSecret,
//	             Grouped ("ABCD EFGH ..."), KeyURI (otpauth:// link),
//	             Enrollment / NewEnrollment (secret + link + recovery key).
//	totp.go      Digits, Period, Skew; Step, GenerateCode, NormalizeCode and
//	             MatchStep, which walks the ±1 step window itself, compares
//	             every candidate in constant time and returns the matched step
//	             (pquerna/otp's ValidateCustom cannot: it returns only a bool).
//	qr.go        QRCodePNG: the otpauth:// link as a two-colour PNG, rendered
//	             on the server with a proper quiet zone.
//	recovery.go  RecoveryKey: 64 symbols of a 32-symbol Crockford alphabet
//	             (320 bits), Grouped/Lines for display, NormalizeRecoveryKey
//	             for input, HashRecoveryKey (SHA-256) and the constant-time
//	             RecoveryKeyMatches.
//	lockout.go   Attempts, LockoutPolicy (cool-down arithmetic),
//	             LockedOutError.
//	guard.go     Store, the sentinel errors, and Guard: CheckCode,
//	             CheckPendingCode, CheckRecoveryKey, Admit.
//	mfatest/     RunStoreTests, the conformance suite every Store runs.
//
// # Who calls what
//
// Enrollment: NewEnrollment; show QRCodePNG(e.KeyURI, n), e.Secret.Grouped()
// and e.KeyURI; show e.RecoveryKey.Grouped() and require the user to
// acknowledge it; store the secret (the store seals it) and
// HashRecoveryKey(key) as pending. The first code the
// user types is checked with Guard.CheckPendingCode against the pending
// secret (charged like any code, no step burned): a match activates the
// authenticator with the returned step as the last one used, so it cannot
// be replayed. Guard.CheckCode is for active authenticators only, since the
// replay guard advances a confirmed one. Nothing here is active before the
// confirming code.
//
// Sign-in, second step: Guard.CheckCode(ctx, userID, secret, code) with the
// secret the store returns. nil means the user passed; any error means not.
// Recovery: NormalizeRecoveryKey, RecoveryKeyMatches against the stored hash,
// then Guard.CheckRecoveryKey(ctx, userID, matched); only on nil may the
// caller spend the key, remove the authenticator and send the user to enroll.
//
// Errors: ErrMalformedCode (input is not six digits; matches ErrInvalidCode;
// not charged), ErrInvalidCode, ErrCodeReused ("This code was already used.
// Wait for the next one."), ErrInvalidRecoveryKey, and *LockedOutError
// (errors.Is(err, ErrLockedOut)); its JustLocked field marks the attempt that
// triggered the lockout, for the audit log, and Remaining(now) says how long
// to wait. ErrInvalidSecret means the stored secret is unusable; anything
// else (ErrContention included) is a storage failure.
//
// # Replay guard
//
// A step, once accepted, is burned forever: Store.AdvanceTOTPStep records it
// only if it is greater than the last accepted step of the user, atomically
// in the database (conditional UPDATE or unique row). So a code cannot be
// used twice, not even by two replicas at the same instant, and a code of an
// earlier step is refused once a later one was used. A replayed code counts
// as a failed attempt: it is what an attacker who watched the user type it
// would send.
//
// A Store that also implements Transactor (idp/store does) gets CheckCode
// in one transaction: the charge, the burned step and the reset commit
// together, once; a refused code still commits its charge. If it also
// implements CounterLocker, CheckCode first locks the user's counter row
// for the transaction, so checks of one user queue up on every replica;
// it can then evaluate the code before charging it and write only what
// changes, with the same bound: twenty simultaneous guesses still get five
// answered.
//
// A Store that implements StepAcceptor (idp/store does) accepts the common
// case, a right code from a user whose counter has no lock, with a single
// conditional write of the counter row that burns the step and resets the
// counter; a lock on that row refuses it. Everything it refuses, and every
// wrong code, then takes the path above, after a write of the same cost, so
// a locked account answers right and wrong codes alike, in content and in
// timing.
//
// # Attempt limit and its arithmetic
//
// Failed code and recovery-key attempts share one counter per user, kept in
// the database and updated by compare-and-swap on a version column, so the
// limit holds across replicas. Each attempt is charged before the code is
// evaluated; a success resets the counter. Twenty simultaneous guesses
// therefore still get only five evaluated.
//
// DefaultLockoutPolicy: after 5 consecutive failures code entry locks for a
// cool-down of 1 minute, doubling with each further lockout (1, 2, 4, 8, 16,
// 32 minutes) and capped at 1 hour. An attacker who already has the password
// and tries 5 codes the moment each lockout ends gets bursts at minutes 0, 1,
// 3, 7, 15, 31, 63 and then every 60 minutes (123, 183, ..., 1383): 29 bursts,
// so at most 145 codes in the first 24 hours, and 24 × 5 = 120 codes in each
// further day (LockoutPolicy.MaxAttemptsPer computes it; TestMaxCodesPerDay
// replays it through a Guard). With three codes valid at any time (±1 step)
// each guess succeeds with probability 3/10⁶: about 1 in 2,300 for the first
// day, about 12 % over a year of non-stop guessing. That is why lockouts are
// audited, and why the password step keeps its own limit.
//
// The counter never decays by itself: only a success (code or recovery key)
// resets it, so a persistent attacker keeps a user at one-hour cool-downs;
// the storage layer should delete the counter when an admin resets the
// user's 2FA.
//
// # Secrets at rest
//
// This package never sees a sealed value: idp/store seals TOTP secrets with
// idp/secrets' at-rest cipher (AES-256-GCM, random 96-bit nonce, key id in
// the value for rotation) and AAD "table|column|rowID", so a sealed value
// copied to another row does not open. Recovery keys are
// stored as SHA-256 hashes: 320 random bits make a slow KDF pointless.
// Secret and RecoveryKey redact themselves in fmt and logs (String); use
// string(s) where the value is really meant.
package mfa
