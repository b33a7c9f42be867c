// Package secrets holds every credential and every piece of cryptography
// Portcullis uses, so that the server, its store and the command line
// build and check them the same way. It is a leaf: it imports no other
// package of the module, knows no HTTP, no database and no fosite.
//
// # Files
//
//	cipher.go        Cipher: AES-256-GCM with key ids ("v1.<keyid>.<base64url>"),
//	                 AAD binding a value to table|column|row, KeyIDOf,
//	                 NeedsRotation; DeriveKey (HKDF-SHA256) for the keys
//	                 derived from the one master key.
//	atrest.go        AtRestCipher: the Cipher under the master key's "at-rest"
//	                 key, which seals TOTP secrets, private signing keys, the
//	                 token HMAC secret and a pending enrollment's recovery key.
//	password.go      argon2id: HashPassword (PHC string), CheckPassword
//	                 (constant time), GeneratePassword, Argon2Params,
//	                 DefaultArgon2, Min/MaxPasswordLength.
//	clientsecret.go  ClientSecretHasher (HMAC-SHA-256 under the master key's
//	                 "client-secret" key; fosite's ClientSecretsHasher),
//	                 NewClientSecret, ClientSecretMatches.
//	token.go         RandomToken (256 bits) and HashToken (hex SHA-256), for
//	                 values stored only as their digest: session secrets,
//	                 browser bindings.
//	signingkey.go    GenerateSigningKey (RS256 or ES256, sealed for storage)
//	                 and OpenSigningKey.
//
// # Keys derived from the master key
//
// The operator configures one 32-byte master key; DeriveKey turns it into
// an independent key per purpose: "at-rest" (AtRestCipher), "client-secret"
// (ClientSecretHasher), "cookie-hash" and "cookie-block" (the browser
// cookie). The purposes are part of the stored data's format: renaming one
// makes what was sealed or digested under it unreadable.
//
// # Who calls what
//
// idp/store seals and opens the secrets it stores (it builds each AAD from
// its own table, column and row id), so no HTTP handler names a column.
// idp signs ID tokens with the keys OpenSigningKey returns, checks passwords
// and client secrets, and makes session tokens. cmd/portcullis hashes
// passwords, makes client secrets and rotates signing keys with the same
// functions. mfa (TOTP, recovery keys) needs nothing from here: it never
// sees a sealed value.
package secrets
