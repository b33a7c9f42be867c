package mfa_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/mfa"
)

func TestRecoveryAlphabet(t *testing.T) {
	a := mfa.RecoveryAlphabet
	seen := map[rune]bool{}
	for _, r := range a {
		seen[r] = true
	}
	if len(a) != 32 || len(seen) != 32 {
		t.Fatalf("alphabet has %d symbols (%d distinct), want 32", len(a), len(seen))
	}
	if strings.ContainsAny(a, "ILOUilou") {
		t.Error("alphabet contains an ambiguous letter")
	}
	// 64 symbols from 32 equally likely ones: 64·log2(32) = 320 bits.
	if bits := float64(mfa.RecoveryKeyLen) * math.Log2(float64(len(a))); bits != 320 {
		t.Errorf("key entropy = %v bits, want 320", bits)
	}
}

func TestNewRecoveryKey(t *testing.T) {
	k, err := mfa.NewRecoveryKey(seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{64}$`).MatchString(string(k)) {
		t.Errorf("key %q is not 64 symbols of the alphabet", string(k))
	}
	// Every bit of the 40 random bytes is in the key: it decodes back.
	raw := make([]byte, 40)
	_, _ = seeded(1).Read(raw)
	back, err := base32.NewEncoding(mfa.RecoveryAlphabet).WithPadding(base32.NoPadding).DecodeString(string(k))
	if err != nil || !bytes.Equal(back, raw) {
		t.Errorf("key does not decode to its 320 random bits: %v", err)
	}
	zero, _ := mfa.NewRecoveryKey(bytes.NewReader(make([]byte, 40)))
	ones, _ := mfa.NewRecoveryKey(bytes.NewReader(bytes.Repeat([]byte{0xff}, 40)))
	if zero != mfa.RecoveryKey(strings.Repeat("0", 64)) || ones != mfa.RecoveryKey(strings.Repeat("Z", 64)) {
		t.Errorf("all-zero / all-one input gave %q / %q", string(zero), string(ones))
	}
	if _, err := mfa.NewRecoveryKey(bytes.NewReader(make([]byte, 39))); err == nil {
		t.Error("NewRecoveryKey accepted 312 bits of randomness")
	}
	if k, err := mfa.NewRecoveryKey(nil); err != nil || len(k) != 64 {
		t.Errorf("NewRecoveryKey(nil) = %d chars, %v", len(k), err)
	}
}

func TestRecoveryKeySymbolsUniform(t *testing.T) {
	counts := map[rune]int{}
	r := seeded(2)
	const keys = 1000
	for range keys {
		k, err := mfa.NewRecoveryKey(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range string(k) {
			counts[c]++
		}
	}
	// Expect 64000/32 = 2000 per symbol; ±15 % is far beyond chance (σ ≈ 44).
	for _, c := range mfa.RecoveryAlphabet {
		if n := counts[c]; n < 1700 || n > 2300 {
			t.Errorf("symbol %c appears %d times in %d keys, want about 2000", c, n, keys)
		}
	}
	if len(counts) != 32 {
		t.Errorf("%d distinct symbols used, want 32", len(counts))
	}
}

func TestRecoveryKeyGrouped(t *testing.T) {
	k, _ := mfa.NewRecoveryKey(seeded(3))
	g := k.Grouped()
	if !regexp.MustCompile(`^([0-9A-Z]{4}-){15}[0-9A-Z]{4}$`).MatchString(g) || strings.ReplaceAll(g, "-", "") != string(k) {
		t.Errorf("Grouped = %q", g)
	}
	lines := k.Lines()
	if len(lines) != 4 || strings.Join(lines, "-") != g {
		t.Errorf("Lines = %q", lines)
	}
}

func TestNormalizeRecoveryKey(t *testing.T) {
	k, _ := mfa.NewRecoveryKey(seeded(4))
	// Make sure the key contains 0 and 1 so the look-alike mapping is exercised.
	k = mfa.RecoveryKey("01" + string(k)[2:])
	s := string(k)
	lookalike := strings.NewReplacer("0", "o", "1", "l").Replace(strings.ToLower(s[:32])) +
		strings.NewReplacer("0", "O", "1", "I").Replace(s[32:])
	inputs := []string{
		s,
		k.Grouped(),
		strings.ToLower(k.Grouped()),
		strings.ReplaceAll(k.Grouped(), "-", " "),
		strings.Join(k.Lines(), "\r\n") + "\n",
		"  " + s + "\t",
		lookalike,
		strings.NewReplacer("1", "i").Replace(s),
	}
	for _, in := range inputs {
		got, ok := mfa.NormalizeRecoveryKey(in)
		if !ok || got != k {
			t.Errorf("NormalizeRecoveryKey(%q) = %q, %v; want the key", in, string(got), ok)
		}
	}
	bad := []string{
		"", s[:63], s + "0", k.Grouped()[:78],
		"U" + s[1:], "*" + s[1:], "é" + s[2:], s[:32] + "_" + s[33:],
		strings.Repeat(" ", 300) + s,
	}
	for _, in := range bad {
		if _, ok := mfa.NormalizeRecoveryKey(in); ok {
			t.Errorf("NormalizeRecoveryKey(%q) accepted invalid input", in)
		}
	}
}

func TestRecoveryKeyHash(t *testing.T) {
	k, _ := mfa.NewRecoveryKey(seeded(5))
	other, _ := mfa.NewRecoveryKey(seeded(6))
	h := mfa.HashRecoveryKey(k)
	sum := sha256.Sum256([]byte(k))
	if !bytes.Equal(h, sum[:]) {
		t.Error("hash is not SHA-256 of the normalized key")
	}
	if !mfa.RecoveryKeyMatches(k, h) {
		t.Error("key does not match its own hash")
	}
	if !mfa.RecoveryKeyMatches(mfa.RecoveryKey(strings.ToLower(k.Grouped())), h) {
		t.Error("grouped lower-case form does not match")
	}
	if mfa.RecoveryKeyMatches(other, h) {
		t.Error("another key matches")
	}
	for _, bad := range [][]byte{nil, {}, h[:31], append(append([]byte{}, h...), 0)} {
		if mfa.RecoveryKeyMatches(k, bad) {
			t.Errorf("matched a %d-byte hash", len(bad))
		}
	}
	flipped := append([]byte{}, h...)
	flipped[31] ^= 1
	if mfa.RecoveryKeyMatches(k, flipped) {
		t.Error("matched a hash with one bit flipped")
	}
}
