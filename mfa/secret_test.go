package mfa_test

import (
	"encoding/base32"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pquerna/otp"

	"github.com/portcullis-idp/portcullis/mfa"
)

func TestNewSecret(t *testing.T) {
	s, err := mfa.NewSecret(seeded(7))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(string(s)) {
		t.Errorf("secret %q is not 32 upper-case base32 characters without padding", string(s))
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(s))
	if err != nil || len(raw) != mfa.SecretSize || mfa.SecretSize != 20 {
		t.Errorf("secret decodes to %d bytes (%v), want 20", len(raw), err)
	}
	again, _ := mfa.NewSecret(seeded(7))
	other, _ := mfa.NewSecret(seeded(8))
	if again != s || other == s {
		t.Error("NewSecret does not follow its randomness source")
	}
	if real, err := mfa.NewSecret(nil); err != nil || real.Validate() != nil {
		t.Errorf("NewSecret(nil) = %v; want a valid secret from crypto/rand", err)
	}
	if _, err := mfa.NewSecret(failingReader{}); err == nil {
		t.Error("NewSecret with a failing reader succeeded")
	}
}

func TestSecretGroupedAndParse(t *testing.T) {
	s := mfa.Secret("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	if got, want := s.Grouped(), "ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567"; got != want {
		t.Errorf("Grouped = %q, want %q", got, want)
	}
	for _, in := range []string{s.Grouped(), strings.ToLower(s.Grouped()), "abcd-efgh-ijkl-mnop-qrst-uvwx-yz23-4567", string(s) + "\n"} {
		got, err := mfa.ParseSecret(in)
		if err != nil || got != s {
			t.Errorf("ParseSecret(%q) = %q, %v; want %q", in, string(got), err, string(s))
		}
	}
	// 16 bytes (the minimum) with padding, as some tools print it.
	min16 := base32.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	if got, err := mfa.ParseSecret(min16); err != nil || got.Validate() != nil {
		t.Errorf("ParseSecret(16-byte padded) = %q, %v", string(got), err)
	}
	for _, in := range []string{"", "ABCD", "GEZDGNBVGY3TQOJQ", "ABCDEFGH1JKLMNOP", "ÄBCDEFGHIJKLMNOPQRSTUVWXYZ234567", strings.Repeat("A", 1000)} {
		if _, err := mfa.ParseSecret(in); err == nil {
			t.Errorf("ParseSecret(%q) accepted an invalid secret", in)
		}
	}
	if err := mfa.Secret(strings.ToLower(string(s))).Validate(); err == nil {
		t.Error("Validate accepted a non-canonical (lower-case) secret")
	}
}

func TestSecretsAreRedactedWhenFormatted(t *testing.T) {
	s := testSecret(t)
	k, _ := mfa.NewRecoveryKey(seeded(3))
	out := fmt.Sprintf("%v %s %+v", s, s, struct {
		S mfa.Secret
		K mfa.RecoveryKey
	}{s, k})
	if strings.Contains(out, string(s)) || strings.Contains(out, string(k)) {
		t.Errorf("formatted output leaks a secret: %s", out)
	}
}

func TestKeyURI(t *testing.T) {
	s := mfa.Secret("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	issuer, account := "ACME Co: Prod", "jane doe@example.com"
	got := mfa.KeyURI(issuer, account, s)
	want := "otpauth://totp/ACME%20Co%3A%20Prod:jane%20doe@example.com" +
		"?secret=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567&issuer=ACME%20Co%3A%20Prod&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("KeyURI =\n %s\nwant\n %s", got, want)
	}
	if strings.Contains(got, "+") {
		t.Error("KeyURI encodes a space as '+'")
	}

	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Errorf("scheme/host = %q/%q", u.Scheme, u.Host)
	}
	label := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), ":")
	if len(label) != 2 {
		t.Fatalf("label %q has %d colon-separated parts, want 2", u.EscapedPath(), len(label))
	}
	gotIssuer, _ := url.PathUnescape(label[0])
	gotAccount, _ := url.PathUnescape(label[1])
	if gotIssuer != issuer || gotAccount != account {
		t.Errorf("label decodes to %q / %q", gotIssuer, gotAccount)
	}
	q := u.Query()
	if q.Get("issuer") != issuer || q.Get("secret") != string(s) || q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Errorf("query = %v", q)
	}

	// pquerna/otp, as an independent parser, reads the same parameters.
	key, err := otp.NewKeyFromURL(got)
	if err != nil {
		t.Fatal(err)
	}
	if key.Type() != "totp" || key.Secret() != string(s) || key.Issuer() != issuer ||
		key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("pquerna reads type %s secret %s issuer %q period %d digits %d alg %s",
			key.Type(), key.Secret(), key.Issuer(), key.Period(), key.Digits(), key.Algorithm())
	}

	// Every other byte is percent-encoded.
	odd := mfa.KeyURI("a/b?c&d=e#f", "ü%+", s)
	if !strings.HasPrefix(odd, "otpauth://totp/a%2Fb%3Fc%26d%3De%23f:%C3%BC%25%2B?") {
		t.Errorf("KeyURI with reserved characters = %s", odd)
	}
}

func TestNewEnrollment(t *testing.T) {
	e, err := mfa.NewEnrollment(seeded(9), "Portcullis", "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if e.Secret.Validate() != nil || len(e.RecoveryKey) != mfa.RecoveryKeyLen {
		t.Errorf("enrollment secret/key invalid: %d-char key", len(e.RecoveryKey))
	}
	if e.KeyURI != mfa.KeyURI("Portcullis", "jane@example.com", e.Secret) {
		t.Errorf("enrollment KeyURI = %s", e.KeyURI)
	}
	if _, err := mfa.NewEnrollment(failingReader{}, "a", "b"); err == nil {
		t.Error("NewEnrollment with failing reader succeeded")
	}
}
