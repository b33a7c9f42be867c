package secrets_test

import (
	"bytes"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/secrets"
)

// TestAtRestCipherOpensExistingValues: values sealed before this package
// existed (by mfa.Cipher under DeriveKey(master, "at-rest"), key id k1)
// still open, so a database written by an earlier version keeps working.
func TestAtRestCipherOpensExistingValues(t *testing.T) {
	c, err := secrets.AtRestCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		table, column, row, sealed string
	}{
		{"mfa_authenticators", "secret", "user-1", "v1.k1.695_22OIL62j7DGFfyY6qoGK1ol5fFL2SM6EfZhFuR6S"},
		{"auth_requests", "secret_data", "req-1", "v1.k1.Dzj_ayGBZ-kQzCerJULMxi7ejjDRu8nKdjHpzN9SoOO5"},
		{"settings", "value", "oauth_hmac_secret", "v1.k1.2ZiLVuCDZX_zEQ5Wad-jb_T5aC-O6yt9eEXDtq938fE6"},
		{"signing_keys", "private_key", "kid-1", "v1.k1.de3DE50IrZf3_yF2tX2U30JibfJ3O6BXeAZdOHKG85M2"},
	} {
		got, err := c.Open(tc.sealed, secrets.AAD(tc.table, tc.column, tc.row))
		if err != nil || string(got) != "plain" {
			t.Errorf("%s.%s of %s: Open = %q, %v", tc.table, tc.column, tc.row, got, err)
		}
	}
}
