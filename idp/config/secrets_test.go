package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMasterKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		have     func(c *Config)
		expected []byte
		err      string
		is       error
	}{
		{
			name: "none configured",
			have: func(c *Config) {},
			is:   ErrNoSecretsKey,
			err:  "no secrets key: set PORTCULLIS_SECRETS_KEY (or secrets_key_file) to 32 random bytes in base64, e.g. the output of `openssl rand -base64 32`; `serve --dev` generates one in its data directory",
		},
		{name: "std padded", have: func(c *Config) { c.SecretsKey = testKey }, expected: seq32()},
		{name: "std unpadded", have: func(c *Config) { c.SecretsKey = strings.TrimRight(testKey, "=") }, expected: seq32()},
		{name: "url alphabet", have: func(c *Config) { c.SecretsKey = base64.URLEncoding.EncodeToString(high32()) }, expected: high32()},
		{name: "std alphabet of the same bytes", have: func(c *Config) { c.SecretsKey = base64.StdEncoding.EncodeToString(high32()) }, expected: high32()},
		{name: "short", have: func(c *Config) { c.SecretsKey = "c2hvcnQ=" }, err: "secrets_key: must decode to 32 bytes, got 5"},
		{name: "bad base64", have: func(c *Config) { c.SecretsKey = "%%%%" }, err: "secrets_key: is not valid base64"},
		{name: "file not resolved", have: func(c *Config) { c.SecretsKeyFile = "/run/key" }, err: "call ResolveSecrets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.have(&c)
			key, err := c.MasterKey()
			if tc.err != "" || tc.is != nil {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %v is not %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(key, tc.expected) {
				t.Errorf("key = %x, want %x", key, tc.expected)
			}
		})
	}
}

func seq32() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// high32 encodes differently in the standard and URL alphabets.
func high32() []byte { return bytes.Repeat([]byte{0xfb, 0xff, 0xfe}, 11)[:32] }

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name     string
		have     func(c *Config)
		expected func(c *Config)
		errs     []string
	}{
		{
			name:     "nothing to read",
			have:     func(c *Config) {},
			expected: func(c *Config) {},
		},
		{
			name: "both files read and trimmed",
			have: func(c *Config) {
				c.DB.DSNFile = write("dsn", "  postgres://a:b@db/p\n")
				c.SecretsKeyFile = write("key", testKey+"\r\n")
			},
			expected: func(c *Config) {
				c.DB.DSN = "postgres://a:b@db/p"
				c.SecretsKey = testKey
			},
		},
		{
			name: "both halves set is left for Validate",
			have: func(c *Config) { c.SecretsKey, c.SecretsKeyFile = testKey, "/nonexistent" },
			expected: func(c *Config) {
				c.SecretsKey, c.SecretsKeyFile = testKey, "/nonexistent"
			},
		},
		{
			name: "every problem named by field",
			have: func(c *Config) {
				c.DB.DSNFile = filepath.Join(dir, "missing")
				c.SecretsKeyFile = write("empty", "\n\n")
			},
			errs: []string{"db.dsn_file: cannot read: open " + filepath.Join(dir, "missing"), "secrets_key_file: file " + filepath.Join(dir, "empty") + " is empty"},
		},
		{
			name: "bad key in file",
			have: func(c *Config) { c.SecretsKeyFile = write("short", "c2hvcnQ=\n") },
			errs: []string{"secrets_key_file: file " + filepath.Join(dir, "short") + ": must decode to 32 bytes, got 5"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.have(&c)
			err := c.ResolveSecrets()
			if len(tc.errs) > 0 {
				var v ValidationErrors
				if !errors.As(err, &v) || len(v) != len(tc.errs) {
					t.Fatalf("ResolveSecrets() = %v, want %d ValidationErrors", err, len(tc.errs))
				}
				for i, e := range tc.errs {
					if !strings.HasPrefix(v[i].Error(), e) {
						t.Errorf("error %d = %q, want prefix %q", i, v[i].Error(), e)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			expected := Default()
			tc.expected(&expected)
			if !reflect.DeepEqual(c, expected) {
				t.Errorf("got %+v\nwant %+v", c, expected)
			}
		})
	}
}

func TestEnsureDevSecretsKey(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")

	first, err := EnsureDevSecretsKey(dataDir, bytes.NewReader(seq32()))
	if err != nil {
		t.Fatal(err)
	}
	if first != testKey {
		t.Errorf("first key = %q, want %q", first, testKey)
	}
	path := filepath.Join(dataDir, "secrets.key")
	for p, mode := range map[string]os.FileMode{dataDir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s has mode %o, want %o", p, got, mode)
		}
	}

	// A second call reads the file: other randomness does not matter, and an
	// exhausted reader is never touched.
	second, err := EnsureDevSecretsKey(dataDir, bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Errorf("second key = %q, want the first %q", second, first)
	}

	// The key works as a configured key.
	c := Default()
	c.SecretsKey = second
	if key, err := c.MasterKey(); err != nil || !bytes.Equal(key, seq32()) {
		t.Errorf("MasterKey() = %x, %v", key, err)
	}
}

func TestEnsureDevSecretsKeyErrors(t *testing.T) {
	t.Run("real randomness", func(t *testing.T) {
		dir := t.TempDir()
		a, err := EnsureDevSecretsKey(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeKey(a); err != nil {
			t.Errorf("generated key %q: %v", a, err)
		}
	})
	t.Run("short randomness", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := EnsureDevSecretsKey(dir, bytes.NewReader(make([]byte, 31))); err == nil {
			t.Fatal("want an error from a short reader")
		}
		if _, err := os.Stat(filepath.Join(dir, "secrets.key")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a key file was left behind: %v", err)
		}
	})
	t.Run("corrupt file is kept", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "secrets.key")
		if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := EnsureDevSecretsKey(dir, bytes.NewReader(seq32()))
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("error = %v, want one naming %s", err, path)
		}
		if data, _ := os.ReadFile(path); string(data) != "garbage\n" {
			t.Errorf("corrupt key file was overwritten: %q", data)
		}
	})
}
