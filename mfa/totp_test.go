package mfa_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/mfa"
)

func TestMatchStepSkewWindow(t *testing.T) {
	s := testSecret(t)
	// Try the middle, the first and the last instant of a step.
	for _, now := range []time.Time{t0, mfa.StepTime(mfa.Step(t0)), mfa.StepTime(mfa.Step(t0) + 1).Add(-time.Nanosecond)} {
		cur := mfa.Step(now)
		for off := int64(-2); off <= 2; off++ {
			code := mustCode(t, s, mfa.StepTime(cur+off))
			step, ok := mfa.MatchStep(s, code, now)
			wantOK := off >= -mfa.Skew && off <= mfa.Skew
			if ok != wantOK {
				t.Errorf("now %s, code of step %+d: ok = %v, want %v", now.Format(time.RFC3339Nano), off, ok, wantOK)
				continue
			}
			if ok && step != cur+off {
				t.Errorf("now %s, code of step %+d: matched step %d, want %d", now.Format(time.RFC3339Nano), off, step, cur+off)
			}
		}
	}
}

func TestMatchStepNearEpoch(t *testing.T) {
	s := testSecret(t)
	at := time.Unix(10, 0)
	step, ok := mfa.MatchStep(s, mustCode(t, s, at), at)
	if !ok || step != 0 {
		t.Errorf("code of step 0 at unix 10 = %d, %v; want 0, true", step, ok)
	}
	if _, err := mfa.GenerateCode(s, time.Unix(-1, 0)); err == nil {
		t.Error("GenerateCode before the epoch succeeded")
	}
	if _, ok := mfa.MatchStep(s, "123456", time.Unix(-100, 0)); ok {
		t.Error("MatchStep before the epoch matched")
	}
	if got := mfa.Step(time.Unix(-1, 0)); got != -1 {
		t.Errorf("Step(unix -1) = %d, want -1", got)
	}
}

func TestMatchStepInputShapes(t *testing.T) {
	s := testSecret(t)
	code := mustCode(t, s, t0)
	accepted := []string{code, " " + code + " ", code[:3] + " " + code[3:], "\t" + code + "\n"}
	for _, in := range accepted {
		if _, ok := mfa.MatchStep(s, in, t0); !ok {
			t.Errorf("MatchStep(%q) refused a well-formed right code", in)
		}
	}
	refused := []string{
		"", " ", "12345", "1234567", code + "0", code[:5],
		code[:5] + "a", "a" + code[1:], "-12345", "+12345", "12 34 5",
		code[:3] + "\x00" + code[3:], code[:3] + "-" + code[3:],
		"١٢٣٤٥٦",                   // Arabic-Indic digits
		"１２３４５６",                   // full-width digits
		"\xff\xfe\xfd\xfc\xfb\xfa", // invalid UTF-8
		strings.Repeat("1", 10000),
		strings.Repeat(" ", 100) + code,
	}
	for _, in := range refused {
		if _, ok := mfa.MatchStep(s, in, t0); ok {
			t.Errorf("MatchStep(%q) accepted malformed input", in)
		}
		if _, ok := mfa.NormalizeCode(in); ok {
			t.Errorf("NormalizeCode(%q) accepted malformed input", in)
		}
	}
}

func TestMatchStepInvalidSecret(t *testing.T) {
	good := testSecret(t)
	code := mustCode(t, good, t0)
	for _, s := range []mfa.Secret{"", "A", mfa.Secret(strings.ToLower(string(good))), good + "=", "GEZDGNBVGY3TQOJQ" /* 10 bytes */, "!!!!"} {
		if _, ok := mfa.MatchStep(s, code, t0); ok {
			t.Errorf("MatchStep with invalid secret %q matched", string(s))
		}
		if _, err := mfa.GenerateCode(s, t0); err == nil {
			t.Errorf("GenerateCode with invalid secret %q succeeded", string(s))
		}
	}
	// An empty key would make codes anyone can compute: never usable.
	if _, ok := mfa.MatchStep("", "328482", t0); ok {
		t.Error("empty secret matched")
	}
}

func FuzzMatchStep(f *testing.F) {
	s := testSecret(f)
	for _, seed := range []string{"123456", "", " 1 2 3", "١٢٣٤٥٦", "\xff\x00", mustCode(f, s, t0)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, code string) {
		step, ok := mfa.MatchStep(s, code, t0)
		if ok {
			if _, valid := mfa.NormalizeCode(code); !valid {
				t.Errorf("matched %q, which NormalizeCode refuses", code)
			}
			if d := step - mfa.Step(t0); d < -mfa.Skew || d > mfa.Skew {
				t.Errorf("matched step %d outside the window", step)
			}
		}
	})
}

func BenchmarkMatchStep(b *testing.B) {
	s := testSecret(b)
	code := mustCode(b, s, t0.Add(mfa.Period)) // worst case: the last candidate
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := mfa.MatchStep(s, code, t0); !ok {
			b.Fatal("no match")
		}
	}
}
