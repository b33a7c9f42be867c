package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length in bytes of the master secrets key (AES-256).
const KeySize = 32

// DevSecretsKeyFile is the name of the key file EnsureDevSecretsKey keeps in
// the data directory.
const DevSecretsKeyFile = "secrets.key"

// ErrNoSecretsKey is returned by MasterKey when no secrets key is configured.
var ErrNoSecretsKey = errors.New("no secrets key: set PORTCULLIS_SECRETS_KEY (or secrets_key_file) to 32 random bytes in base64, e.g. the output of `openssl rand -base64 32`; `serve --dev` generates one in its data directory")

// ResolveSecrets reads every *_file setting (db.dsn_file, secrets_key_file)
// into its value, trimmed of surrounding white space, and clears the file
// setting; a secrets key read this way is checked here, so that a bad one
// is reported against secrets_key_file. A pair with both halves set is left
// alone for Validate to report. Problems are returned together as ValidationErrors naming the *_file key.
// Load calls it; call it yourself only on a Config you built by hand.
func (c *Config) ResolveSecrets() error {
	var p problems
	for _, s := range []struct {
		field       string
		value, file *string
		check       func(string) error
	}{
		{"db.dsn_file", &c.DB.DSN, &c.DB.DSNFile, nil},
		{"secrets_key_file", &c.SecretsKey, &c.SecretsKeyFile, func(v string) error {
			_, err := decodeKey(v)
			return err
		}},
	} {
		if *s.file == "" || *s.value != "" {
			continue
		}
		data, err := os.ReadFile(*s.file)
		if err != nil {
			p.addf(s.field, "cannot read: %v", err)
			continue
		}
		v := strings.TrimSpace(string(data))
		if v == "" {
			p.addf(s.field, "file %s is empty", *s.file)
			continue
		}
		if s.check != nil {
			if err := s.check(v); err != nil {
				p.addf(s.field, "file %s: %v", *s.file, err)
				continue
			}
		}
		*s.value, *s.file = v, ""
	}
	if len(p) == 0 {
		return nil
	}
	return ValidationErrors(p)
}

// MasterKey returns the 32-byte master key that encrypts secrets at rest. It
// returns ErrNoSecretsKey when none is configured.
func (c *Config) MasterKey() ([]byte, error) {
	if c.SecretsKey == "" {
		if c.SecretsKeyFile != "" {
			return nil, errors.New("secrets_key_file: not read yet; call ResolveSecrets (Load does) before MasterKey")
		}
		return nil, ErrNoSecretsKey
	}
	key, err := decodeKey(c.SecretsKey)
	if err != nil {
		return nil, fmt.Errorf("secrets_key: %w", err)
	}
	return key, nil
}

// EnsureDevSecretsKey returns the base64 secrets key stored in
// <dataDir>/secrets.key, creating the directory (0700) and the file (0600)
// with KeySize bytes from r (crypto/rand when nil) on first use. It is for
// `serve --dev` only: the key lives next to the data it protects. An existing
// file that does not hold a valid key is an error, never overwritten, as
// replacing it would make every encrypted secret unreadable.
func EnsureDevSecretsKey(dataDir string, r io.Reader) (string, error) {
	path := filepath.Join(dataDir, DevSecretsKeyFile)
	if key, err := readKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}

	if r == nil {
		r = rand.Reader
	}
	raw := make([]byte, KeySize)
	if _, err := io.ReadFull(r, raw); err != nil {
		return "", fmt.Errorf("generate dev secrets key: %w", err)
	}
	key := base64.StdEncoding.EncodeToString(raw)

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	// O_EXCL: if another process got there first, its key is the key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("create dev secrets key: %w", err)
	}
	_, err = f.WriteString(key + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("write dev secrets key: %w", err)
	}
	return key, nil
}

// readKeyFile reads and checks a key file. A missing file is returned as an
// error matching fs.ErrNotExist.
func readKeyFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read dev secrets key: %w", err)
	}
	key := strings.TrimSpace(string(data))
	if _, err := decodeKey(key); err != nil {
		return "", fmt.Errorf("dev secrets key %s: %w (move the file away only if nothing was encrypted with it)", path, err)
	}
	return key, nil
}

// decodeKey decodes base64 text (standard or URL alphabet, padded or not)
// holding exactly KeySize bytes. Its errors never quote the text.
func decodeKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		key, err := enc.DecodeString(text)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("must decode to %d bytes, got %d; make one with `openssl rand -base64 32`", KeySize, len(key))
		}
		return key, nil
	}
	return nil, errors.New("is not valid base64; make one with `openssl rand -base64 32`")
}
