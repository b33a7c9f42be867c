// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options Portcullis sends (navigator.credentials.create and
// .get, as JSON) with "none" attestations and ES256 assertions, the way a
// browser with a platform authenticator would, so the ceremonies can be
// tested over plain HTTP on both databases. It is not for production.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Credential is one key the authenticator holds.
type Credential struct {
	ID         []byte
	UserHandle []byte
	key        *ecdsa.PrivateKey
	// Counter is the sign counter; each assertion adds one first, unless
	// NoCounter (as synced passkeys do: always 0).
	Counter uint32
}

// Authenticator answers WebAuthn options for one origin.
type Authenticator struct {
	Origin string
	// Synced makes credentials backup eligible and backed up (a synced
	// passkey); UserVerification sets the UV flag.
	Synced           bool
	UserVerification bool
	NoCounter        bool
	Creds            []*Credential
}

// New is an authenticator for origin that verifies its user.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin, UserVerification: true} }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func (a *Authenticator) flags() byte {
	f := byte(flagUP)
	if a.UserVerification {
		f |= flagUV
	}
	if a.Synced {
		f |= flagBE | flagBS
	}
	return f
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// Create answers creation options (the JSON Portcullis puts in the page)
// with a new credential, as the JSON a browser posts back.
func (a *Authenticator) Create(optionsJSON []byte) (string, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return "", err
	}
	user, err := unb64(o.PublicKey.User.ID)
	if err != nil {
		return "", fmt.Errorf("user id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	cred := &Credential{ID: id, UserHandle: user, key: key}
	x, y := make([]byte, 32), make([]byte, 32)
	key.X.FillBytes(x)
	key.Y.FillBytes(y)
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		return "", err
	}
	rpHash := sha256.Sum256([]byte(o.PublicKey.RP.ID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags()|flagAT)
	auth = binary.BigEndian.AppendUint32(auth, 0)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(id)))
	auth = append(auth, id...)
	auth = append(auth, cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return "", err
	}
	a.Creds = append(a.Creds, cred)
	resp, err := json.Marshal(map[string]any{
		"id": b64(id), "rawId": b64(id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults":  map[string]any{"credProps": map[string]bool{"rk": true}},
		"authenticatorAttachment": "platform",
	})
	return string(resp), err
}

// Get answers assertion options with the first credential the options
// allow (any, when they list none).
func (a *Authenticator) Get(optionsJSON []byte) (string, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return "", err
	}
	var cred *Credential
	for _, c := range a.Creds {
		if len(o.PublicKey.AllowCredentials) == 0 {
			cred = c
			break
		}
		for _, allowed := range o.PublicKey.AllowCredentials {
			if allowed.ID == b64(c.ID) {
				cred = c
			}
		}
		if cred != nil {
			break
		}
	}
	if cred == nil {
		return "", errors.New("passkeytest: no credential for these options")
	}
	return a.Sign(cred, o.PublicKey.RPID, o.PublicKey.Challenge)
}

// Assert answers assertion options with cred, whether or not the options
// allow it (as a modified client could).
func (a *Authenticator) Assert(cred *Credential, optionsJSON []byte) (string, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return "", err
	}
	return a.Sign(cred, o.PublicKey.RPID, o.PublicKey.Challenge)
}

// Sign makes an assertion of cred over challenge, advancing its counter.
func (a *Authenticator) Sign(cred *Credential, rpID, challenge string) (string, error) {
	if !a.NoCounter {
		cred.Counter++
	}
	rpHash := sha256.Sum256([]byte(rpID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags())
	auth = binary.BigEndian.AppendUint32(auth, cred.Counter)
	clientData := a.clientData("webauthn.get", challenge)
	cdHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.key, digest[:])
	if err != nil {
		return "", err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64(cred.ID), "rawId": b64(cred.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64(clientData),
			"authenticatorData": b64(auth),
			"signature":         b64(sig),
			"userHandle":        b64(cred.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
	return string(resp), err
}
