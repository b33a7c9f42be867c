package mfa

import (
	"encoding/base32"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// rfcKey is the 20-byte ASCII key of the RFC 4226 and RFC 6238 (SHA-1)
// test vectors.
var rfcKey = Secret(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890")))

// TestRFC6238Vectors checks the core computation against RFC 6238
// Appendix B (SHA-1 rows, 8 digits) and the 6-digit codes GenerateCode
// derives from it (the last six digits).
func TestRFC6238Vectors(t *testing.T) {
	vectors := []struct {
		unix int64
		step uint64
		code string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, v := range vectors {
		at := time.Unix(v.unix, 0).UTC()
		if got := Step(at); got != int64(v.step) {
			t.Errorf("Step(%d) = %#x, want %#x", v.unix, got, v.step)
		}
		got, err := hotpCode(rfcKey, v.step, otp.DigitsEight)
		if err != nil || got != v.code {
			t.Errorf("8-digit TOTP at %d = %q, %v; want %q", v.unix, got, err, v.code)
		}
		six, err := GenerateCode(rfcKey, at)
		if err != nil || six != v.code[2:] {
			t.Errorf("GenerateCode at %d = %q, %v; want %q", v.unix, six, err, v.code[2:])
		}
		if st, ok := MatchStep(rfcKey, v.code[2:], at); !ok || st != int64(v.step) {
			t.Errorf("MatchStep(%q) at %d = %d, %v; want %d, true", v.code[2:], v.unix, st, ok, v.step)
		}
	}
}

// TestRFC4226Vectors checks HOTP against RFC 4226 Appendix D.
func TestRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got, err := hotpCode(rfcKey, uint64(counter), otp.DigitsSix); err != nil || got != w {
			t.Errorf("HOTP(%d) = %q, %v; want %q", counter, got, err, w)
		}
	}
}
