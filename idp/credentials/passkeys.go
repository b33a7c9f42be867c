package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portcullis-idp/portcullis/idp/store"
)

// Passkeys runs the WebAuthn ceremonies (go-webauthn) for passkeys and
// security keys: the relying-party id is the issuer's host, the one
// origin the issuer's. A ceremony's challenge is kept by the caller in the
// pending request (Ceremony, as JSON) and is single use there.
//
// User messages.
const (
	MsgPasskeyFailed  = "Your passkey or security key could not be checked. Try again, or choose another way below."
	MsgPasskeyUnknown = "That passkey is not registered to this account. Use one you registered here, or choose another way below."
	MsgPasskeyCloned  = "That passkey was refused: its use counter went back, which can mean the key was copied. Use another way to sign in, and tell your administrator."
	MsgPasskeyTaken   = "That passkey is already registered."
)

// Errors of the ceremonies; each maps to one message above.
var (
	ErrPasskeyFailed  = errors.New("credentials: the WebAuthn response could not be verified")
	ErrPasskeyUnknown = errors.New("credentials: the WebAuthn credential is not the user's")
	ErrPasskeyCloned  = errors.New("credentials: the authenticator's sign counter went back")
	ErrNoPasskeys     = errors.New("credentials: passkeys need an issuer whose host is a domain name")
)

// ceremonyTimeout is how long the browser may take to answer.
const ceremonyTimeout = 5 * time.Minute

// maxResponse bounds a posted WebAuthn response (attestation objects are
// a few KiB; a "none" attestation well under one).
const maxResponse = 64 << 10

// Passkeys is the WebAuthn relying party. Its zero value has no relying
// party: Available is false and every ceremony is ErrNoPasskeys.
type Passkeys struct {
	rp *webauthn.WebAuthn
}

// NewPasskeys configures the relying party for issuer. WebAuthn needs a
// domain name as relying-party id: an issuer on an IP address (the
// default http://127.0.0.1:8080) has no passkeys, and Available says so.
func NewPasskeys(issuer string) (*Passkeys, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	if host == "" || net.ParseIP(host) != nil {
		return &Passkeys{}, nil
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: "Portcullis",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		// Only "none" attestation is asked for: Portcullis does not
		// restrict authenticator models, so it has no use for the
		// attestation statement (and keeps no metadata service).
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return &Passkeys{rp: rp}, nil
}

// Available reports whether passkeys can be used with this issuer.
func (p *Passkeys) Available() bool { return p != nil && p.rp != nil }

// Ceremony purposes.
const (
	PurposeRegister     = "register"
	PurposeLogin        = "login"
	PurposePasswordless = "passwordless" // a discoverable credential, before any email
)

// Ceremony is a begun WebAuthn ceremony: what the browser is asked
// (Options, the JSON for navigator.credentials) and what checking its
// answer needs (Session). Stored in the pending request as JSON.
type Ceremony struct {
	Purpose string               `json:"purpose"`
	Session webauthn.SessionData `json:"session"`
	Options json.RawMessage      `json:"options"`
}

// Encode is the ceremony as stored.
func (c *Ceremony) Encode() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// DecodeCeremony reads a stored ceremony for purpose; ok is false when
// there is none, it is for another purpose, or it has expired (the caller
// begins a new one).
func DecodeCeremony(stored, purpose string, now time.Time) (*Ceremony, bool) {
	if stored == "" {
		return nil, false
	}
	var c Ceremony
	if json.Unmarshal([]byte(stored), &c) != nil || c.Purpose != purpose {
		return nil, false
	}
	if !c.Session.Expires.IsZero() && !now.Before(c.Session.Expires) {
		return nil, false
	}
	return &c, true
}

// passkeyUser is a user as go-webauthn sees them. The user handle is the
// user id (the opaque `sub`, no personal data).
type passkeyUser struct {
	u     *store.User
	creds []webauthn.Credential
}

func (pu passkeyUser) WebAuthnID() []byte                         { return []byte(pu.u.ID) }
func (pu passkeyUser) WebAuthnName() string                       { return pu.u.Email }
func (pu passkeyUser) WebAuthnDisplayName() string                { return displayName(pu.u) }
func (pu passkeyUser) WebAuthnCredentials() []webauthn.Credential { return pu.creds }

func displayName(u *store.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

func newPasskeyUser(u *store.User, stored []store.WebAuthnCredential) passkeyUser {
	pu := passkeyUser{u: u}
	for _, c := range stored {
		id, err := base64.RawURLEncoding.DecodeString(c.ID)
		if err != nil {
			continue
		}
		var transports []protocol.AuthenticatorTransport
		for _, t := range c.Transports {
			transports = append(transports, protocol.AuthenticatorTransport(t))
		}
		pu.creds = append(pu.creds, webauthn.Credential{
			ID: id, PublicKey: c.PublicKey, AttestationType: c.AttestationType, Transport: transports,
			Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: c.UserVerified,
				BackupEligible: c.BackupEligible, BackupState: c.BackupState},
			Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: uint32(c.SignCount)},
		})
	}
	return pu
}

// BeginRegistration asks the browser to create a credential for u,
// excluding the ones u has. User verification and a discoverable
// credential are preferred, not required, so security keys without a PIN
// still work as a second factor.
func (p *Passkeys) BeginRegistration(u *store.User, existing []store.WebAuthnCredential) (*Ceremony, error) {
	if !p.Available() {
		return nil, ErrNoPasskeys
	}
	pu := newPasskeyUser(u, existing)
	creation, session, err := p.rp.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return nil, err
	}
	return &Ceremony{Purpose: PurposeRegister, Session: *session, Options: opts}, nil
}

// FinishRegistration checks the browser's answer to c (the JSON of the
// PublicKeyCredential) and returns the credential to store, named name.
func (p *Passkeys) FinishRegistration(u *store.User, existing []store.WebAuthnCredential, c *Ceremony, response, name string) (*store.WebAuthnCredential, error) {
	if !p.Available() {
		return nil, ErrNoPasskeys
	}
	if c == nil || c.Purpose != PurposeRegister || response == "" || len(response) > maxResponse {
		return nil, ErrPasskeyFailed
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(response))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskeyFailed, err)
	}
	cred, err := p.rp.CreateCredential(newPasskeyUser(u, existing), c.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskeyFailed, err)
	}
	out := &store.WebAuthnCredential{
		ID:     base64.RawURLEncoding.EncodeToString(cred.ID),
		UserID: u.ID, Name: name, PublicKey: cred.PublicKey, AttestationType: cred.AttestationType,
		AAGUID: cred.Authenticator.AAGUID, SignCount: int64(cred.Authenticator.SignCount),
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		UserVerified: cred.Flags.UserVerified,
		Discoverable: cred.Extensions.RK != nil && *cred.Extensions.RK,
	}
	for _, t := range cred.Transport {
		out.Transports = append(out.Transports, string(t))
	}
	return out, nil
}

// BeginLogin asks the browser to sign c's challenge with one of u's
// credentials.
func (p *Passkeys) BeginLogin(u *store.User, creds []store.WebAuthnCredential) (*Ceremony, error) {
	if !p.Available() {
		return nil, ErrNoPasskeys
	}
	assertion, session, err := p.rp.BeginLogin(newPasskeyUser(u, creds),
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(assertion)
	if err != nil {
		return nil, err
	}
	return &Ceremony{Purpose: PurposeLogin, Session: *session, Options: opts}, nil
}

// Assertion is an accepted WebAuthn sign-in: which credential, and what
// the authenticator reported.
type Assertion struct {
	CredentialID string
	SignCount    uint32
	BackupState  bool // a synced passkey
	UserVerified bool
}

// FinishLogin checks the browser's answer to c. A sign counter that did
// not advance is ErrPasskeyCloned (the store's conditional update makes
// the same rule hold across replicas); a credential that is not u's is
// ErrPasskeyUnknown.
func (p *Passkeys) FinishLogin(u *store.User, creds []store.WebAuthnCredential, c *Ceremony, response string) (*Assertion, error) {
	if !p.Available() {
		return nil, ErrNoPasskeys
	}
	if c == nil || c.Purpose != PurposeLogin || response == "" || len(response) > maxResponse {
		return nil, ErrPasskeyFailed
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskeyFailed, err)
	}
	id := base64.RawURLEncoding.EncodeToString(parsed.RawID)
	known := false
	for _, s := range creds {
		known = known || s.ID == id
	}
	if !known {
		return nil, ErrPasskeyUnknown
	}
	cred, err := p.rp.ValidateLogin(newPasskeyUser(u, creds), c.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskeyFailed, err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, ErrPasskeyCloned
	}
	return &Assertion{CredentialID: id, SignCount: cred.Authenticator.SignCount,
		BackupState: cred.Flags.BackupState, UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified()}, nil
}

// BeginPasswordless asks the browser for any discoverable credential of
// this relying party, with user verification required: the passkey is
// then the whole sign-in (something held, and a PIN or biometrics).
func (p *Passkeys) BeginPasswordless() (*Ceremony, error) {
	if !p.Available() {
		return nil, ErrNoPasskeys
	}
	assertion, session, err := p.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(assertion)
	if err != nil {
		return nil, err
	}
	return &Ceremony{Purpose: PurposePasswordless, Session: *session, Options: opts}, nil
}

// PasskeyOwner looks up, by the user handle a discoverable credential
// returns (the user id), the user and their credentials; ErrNotFound when
// there is no such user.
type PasskeyOwner func(userID string) (*store.User, []store.WebAuthnCredential, error)

// FinishPasswordless checks the browser's answer to a passwordless
// ceremony and returns whose credential it was. The user must have been
// verified by the authenticator; the counter rule is as for FinishLogin.
// A refusal after the credential's owner was found still returns the
// owner (and the credential id), so it can be audited.
func (p *Passkeys) FinishPasswordless(c *Ceremony, response string, owner PasskeyOwner) (*store.User, *Assertion, error) {
	if !p.Available() {
		return nil, nil, ErrNoPasskeys
	}
	if c == nil || c.Purpose != PurposePasswordless || response == "" || len(response) > maxResponse {
		return nil, nil, ErrPasskeyFailed
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrPasskeyFailed, err)
	}
	handle := parsed.Response.UserHandle
	if len(handle) == 0 || len(handle) > 64 {
		return nil, nil, ErrPasskeyUnknown
	}
	u, creds, err := owner(string(handle))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrPasskeyUnknown
	}
	if err != nil {
		return nil, nil, err
	}
	id := base64.RawURLEncoding.EncodeToString(parsed.RawID)
	known := false
	for _, s := range creds {
		known = known || s.ID == id
	}
	if !known {
		return nil, nil, ErrPasskeyUnknown
	}
	// From here on the user is known: refusals name them (for the audit).
	_, cred, err := p.rp.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) {
		return newPasskeyUser(u, creds), nil
	}, c.Session, parsed)
	if err != nil {
		return u, nil, fmt.Errorf("%w: %v", ErrPasskeyFailed, err)
	}
	if cred.Authenticator.CloneWarning {
		return u, &Assertion{CredentialID: id}, ErrPasskeyCloned
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return u, &Assertion{CredentialID: id}, fmt.Errorf("%w: the authenticator did not verify its user", ErrPasskeyFailed)
	}
	return u, &Assertion{CredentialID: id, SignCount: cred.Authenticator.SignCount,
		BackupState: cred.Flags.BackupState, UserVerified: true}, nil
}

// PasskeyMessage is what the user is told for a ceremony error.
func PasskeyMessage(err error) string {
	switch {
	case errors.Is(err, ErrPasskeyUnknown), errors.Is(err, store.ErrNotFound):
		return MsgPasskeyUnknown
	case errors.Is(err, ErrPasskeyCloned), errors.Is(err, store.ErrCounterWentBack):
		return MsgPasskeyCloned
	case errors.Is(err, store.ErrConflict):
		return MsgPasskeyTaken
	}
	return MsgPasskeyFailed
}
