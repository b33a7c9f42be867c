package audit

import "slices"

// Event is the name of an audit event, as stored in the event column of
// the audit log and shown in the admin API.
type Event string

// The events, grouped as the admin page's filter lists them.
const (
	// Signing in.
	LoginPassword Event = "login.password"
	LoginFailed   Event = "login.failed"
	LoginLockout  Event = "login.lockout"
	LoginLocked   Event = "login.locked"
	LoginMFA      Event = "login.mfa"
	LoginPasskey  Event = "login.passkey"

	// The second factor.
	MFACodeFailed          Event = "mfa.code_failed"
	MFALockout             Event = "mfa.lockout"
	MFARecoveryUsed        Event = "mfa.recovery_used"
	MFARecoveryFailed      Event = "mfa.recovery_failed"
	MFAEnrollmentStarted   Event = "mfa.enrollment_started"
	MFAEnrollmentCompleted Event = "mfa.enrollment_completed"
	MFAEnrollmentPostponed Event = "mfa.enrollment_postponed"
	MFARecoveryRegenerated Event = "mfa.recovery_regenerated"
	MFADeactivated         Event = "mfa.deactivated"
	MFAFactorAdded         Event = "mfa.factor_added"
	MFAFactorRemoved       Event = "mfa.factor_removed"
	MFAPasskeyRefused      Event = "mfa.passkey_refused"

	// The account page and logout.
	PasswordChanged      Event = "password.changed"
	PasswordChangeFailed Event = "password.change_failed"
	Logout               Event = "logout"
	LogoutOthers         Event = "logout.others"

	// Sessions that ended without anyone asking for it.
	SessionReplaced Event = "session.replaced"
	SessionExpired  Event = "session.expired"

	// Administration (admin page, admin API and CLI).
	TenantRequireTFA   Event = "tenant.require_tfa"
	TenantSessions     Event = "tenant.sessions"
	TenantFactors      Event = "tenant.second_factors"
	TenantDeadline     Event = "tenant.enrollment_deadline"
	TenantPasswordless Event = "tenant.passwordless"
	MFAReset           Event = "mfa.reset"
	SessionsRevoked    Event = "sessions.revoked"
	UserUnlocked       Event = "user.unlocked"
	ClientUpdated      Event = "client.updated"

	// User management (admin page, admin API and CLI).
	UserCreated           Event = "user.created"
	UserDisabled          Event = "user.disabled"
	UserEnabled           Event = "user.enabled"
	UserDeleted           Event = "user.deleted"
	UserPasswordResetLink Event = "user.password_reset_link"
	// The user chose a password through a one-time link.
	PasswordSetByLink Event = "password.set_by_link"
)

// Party says who an event's actor or subject is.
type Party string

const (
	// PartyNone: the field is not set; as actor, nobody acted (the event
	// happened to its subject, such as a lockout).
	PartyNone Party = ""
	// PartyUser is a user; as actor, the user acting on their own account.
	PartyUser Party = "user"
	// PartyAdmin is a tenant admin acting on the page or the API; the
	// actor is empty when the operator's CLI did it.
	PartyAdmin Party = "admin"
	// PartyTenant is the tenant itself.
	PartyTenant Party = "tenant"
	// PartyUserOrTenant is a user, or the tenant when the action was on
	// all its users.
	PartyUserOrTenant Party = "user or tenant"
	// PartyClient is a relying app (a client id).
	PartyClient Party = "client"
)

// Spec is what the catalogue says of one event. Every event also has a
// tenant, a time, and the IP address and user agent of the request that
// caused it (none from the CLI).
type Spec struct {
	Event Event
	// Label says what happened, for the admin page.
	Label string
	// Actor is who acted (actor_id), Subject whom or what the event is
	// about (subject_id).
	Actor, Subject Party
	// Detail lists the keys the event's JSON detail may hold, in the order
	// they are written; none means the detail is {}.
	Detail []string
}

// catalogue is every event, in the order of All.
var catalogue = []Spec{
	{Event: LoginPassword, Label: "Password accepted", Actor: PartyUser, Subject: PartyUser},
	// The subject is empty when the email is unknown.
	{Event: LoginFailed, Label: "Sign-in failed", Subject: PartyUser},
	{Event: LoginLockout, Label: "Password entry locked after wrong passwords", Subject: PartyUser, Detail: []string{"until", "scope", "address"}},
	{Event: LoginLocked, Label: "Password refused while locked", Subject: PartyUser, Detail: []string{"until", "scope", "address"}},
	// A passkey alone (a tenant that allows passwordless sign-in).
	{Event: LoginPasskey, Label: "Signed in with a passkey, no password", Actor: PartyUser, Subject: PartyUser, Detail: []string{"credential"}},
	// factor is "totp" or "webauthn"; credential names the passkey used.
	{Event: LoginMFA, Label: "Second factor accepted", Actor: PartyUser, Subject: PartyUser, Detail: []string{"factor", "credential"}},

	// reason is "wrong" or "reused".
	{Event: MFACodeFailed, Label: "Wrong code", Actor: PartyUser, Subject: PartyUser, Detail: []string{"reason"}},
	{Event: MFALockout, Label: "Locked out after wrong codes", Subject: PartyUser, Detail: []string{"until"}},
	// sessions_ended counts the password-only sessions that ended with it.
	{Event: MFARecoveryUsed, Label: "Recovery key used", Actor: PartyUser, Subject: PartyUser, Detail: []string{"sessions_ended"}},
	{Event: MFARecoveryFailed, Label: "Wrong recovery key", Actor: PartyUser, Subject: PartyUser},
	{Event: MFAEnrollmentStarted, Label: "2FA setup started", Actor: PartyUser, Subject: PartyUser},
	{Event: MFAEnrollmentCompleted, Label: "2FA set up", Actor: PartyUser, Subject: PartyUser, Detail: []string{"sessions_ended", "factor", "credential"}},
	// The user chose Later before the tenant's enrollment deadline.
	{Event: MFAEnrollmentPostponed, Label: "2FA setup put off", Actor: PartyUser, Subject: PartyUser, Detail: []string{"deadline"}},
	{Event: MFARecoveryRegenerated, Label: "New recovery key", Actor: PartyUser, Subject: PartyUser},
	{Event: MFADeactivated, Label: "2FA turned off", Actor: PartyUser, Subject: PartyUser},
	// A second factor added beside others, or removed, from the account
	// page; credential is the passkey's id (absent for the app).
	{Event: MFAFactorAdded, Label: "Second factor added", Actor: PartyUser, Subject: PartyUser, Detail: []string{"factor", "credential", "name"}},
	{Event: MFAFactorRemoved, Label: "Second factor removed", Actor: PartyUser, Subject: PartyUser, Detail: []string{"factor", "credential", "name"}},
	// reason is "counter" (the sign counter went back: a cloned key?),
	// "unknown" (not the user's) or "invalid" (the response did not verify).
	{Event: MFAPasskeyRefused, Label: "Passkey refused", Actor: PartyUser, Subject: PartyUser, Detail: []string{"reason", "credential"}},

	// sessions_ended counts the user's other sessions, which end with it.
	{Event: PasswordChanged, Label: "Password changed", Actor: PartyUser, Subject: PartyUser, Detail: []string{"sessions_ended"}},
	{Event: PasswordChangeFailed, Label: "Password change refused", Actor: PartyUser, Subject: PartyUser},
	// via is "logout endpoint" (RP-initiated) or "account page"; current
	// says whether the session was the one the user was using.
	{Event: Logout, Label: "Signed out", Actor: PartyUser, Subject: PartyUser, Detail: []string{"via", "current"}},
	{Event: LogoutOthers, Label: "Signed out everywhere else", Actor: PartyUser, Subject: PartyUser, Detail: []string{"sessions_ended"}},

	// The browser signed in again (another account, prompt=login, max_age):
	// the session it held ends.
	{Event: SessionReplaced, Label: "Session replaced by a new sign-in", Subject: PartyUser},
	// One per session, written when the expiry sweep ends it; reason is
	// "idle" or "absolute", expired_at when the limit was reached.
	{Event: SessionExpired, Label: "Session expired", Subject: PartyUser, Detail: []string{"reason", "expired_at"}},

	// option is absent when the policy is turned off.
	{Event: TenantRequireTFA, Label: "Require TFA changed", Actor: PartyAdmin, Subject: PartyTenant,
		Detail: []string{"require_tfa", "option", "sessions_ended", "via"}},
	{Event: TenantSessions, Label: "Session lifetimes changed", Actor: PartyAdmin, Subject: PartyTenant,
		Detail: []string{"absolute_seconds", "idle_seconds", "via"}},
	// second_factors is "any", "totp" or "webauthn" (phishing-resistant
	// only); option says what happened to sessions that passed a code.
	{Event: TenantFactors, Label: "Allowed second factors changed", Actor: PartyAdmin, Subject: PartyTenant,
		Detail: []string{"second_factors", "option", "sessions_ended", "via"}},
	// deadline is absent when it was removed.
	{Event: TenantDeadline, Label: "Enrollment deadline changed", Actor: PartyAdmin, Subject: PartyTenant,
		Detail: []string{"deadline", "via"}},
	{Event: TenantPasswordless, Label: "Passwordless sign-in changed", Actor: PartyAdmin, Subject: PartyTenant,
		Detail: []string{"passwordless", "via"}},
	{Event: MFAReset, Label: "2FA reset", Actor: PartyAdmin, Subject: PartyUser,
		Detail: []string{"sessions_ended", "via"}},
	{Event: SessionsRevoked, Label: "Sessions ended", Actor: PartyAdmin, Subject: PartyUserOrTenant,
		Detail: []string{"sessions_ended", "via"}},
	// The client's resource-server setting and web origins, as they are
	// now (introspect may read the tenant's tokens: worth a trace).
	{Event: ClientUpdated, Label: "App settings changed", Actor: PartyAdmin, Subject: PartyClient,
		Detail: []string{"introspect", "web_origins", "via"}},
	{Event: UserUnlocked, Label: "Locks cleared", Actor: PartyAdmin, Subject: PartyUser,
		Detail: []string{"password_locks", "code_lock", "via"}},

	// expires_at is when the one-time set-password link ends (never the
	// link itself).
	{Event: UserCreated, Label: "User created", Actor: PartyAdmin, Subject: PartyUser,
		Detail: []string{"email", "admin", "expires_at", "via"}},
	{Event: UserDisabled, Label: "User disabled", Actor: PartyAdmin, Subject: PartyUser,
		Detail: []string{"sessions_ended", "via"}},
	{Event: UserEnabled, Label: "User enabled", Actor: PartyAdmin, Subject: PartyUser,
		Detail: []string{"via"}},
	// email keeps the deleted user's address readable in the log.
	{Event: UserDeleted, Label: "User deleted", Actor: PartyAdmin, Subject: PartyUser,
		Detail: []string{"email", "sessions_ended", "via"}},
	{Event: UserPasswordResetLink, Label: "Password reset link issued", Actor: PartyAdmin, Subject: PartyUser,
		Detail: []string{"expires_at", "via"}},
	// purpose is "new_user" or "reset"; sessions_ended counts the user's
	// sessions, which end with it.
	{Event: PasswordSetByLink, Label: "Password set with a one-time link", Actor: PartyUser, Subject: PartyUser,
		Detail: []string{"purpose", "sessions_ended"}},
}

// All returns every event, grouped by what the user or admin was doing:
// signing in, the second factor, the account page and logout, sessions
// that ended by themselves, administration. The admin page's event filter lists them in this order.
func All() []Event {
	out := make([]Event, len(catalogue))
	for i, s := range catalogue {
		out[i] = s.Event
	}
	return out
}

// Lookup returns the catalogue's entry for e.
func Lookup(e Event) (Spec, bool) {
	i := slices.IndexFunc(catalogue, func(s Spec) bool { return s.Event == e })
	if i < 0 {
		return Spec{}, false
	}
	s := catalogue[i]
	s.Detail = slices.Clone(s.Detail)
	return s, true
}

// Known reports whether e is in the catalogue.
func Known(e Event) bool {
	_, ok := Lookup(e)
	return ok
}

// Label is what the admin page shows for e; for a name not in the
// catalogue (a row written by another version), the name itself.
func Label(e Event) string {
	if s, ok := Lookup(e); ok {
		return s.Label
	}
	return string(e)
}

// Fields names what e carries besides its tenant, time, IP address and
// user agent: "actor" when someone acted, "subject", then the keys of its
// JSON detail. It is nil for a name not in the catalogue.
func Fields(e Event) []string {
	s, ok := Lookup(e)
	if !ok {
		return nil
	}
	var f []string
	if s.Actor != PartyNone {
		f = append(f, "actor")
	}
	if s.Subject != PartyNone {
		f = append(f, "subject")
	}
	return append(f, s.Detail...)
}
