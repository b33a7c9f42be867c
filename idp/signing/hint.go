package signing

import (
	"encoding/json"

	"github.com/go-jose/go-jose/v3"
)

// HintClaims are the claims of an id_token_hint Portcullis relies on.
type HintClaims struct {
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Sid string   `json:"sid"`
	Aud Audience `json:"aud"`
}

// Audience is the aud claim: one string or an array of them.
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// VerifyHint checks that hint is an ID token issued by issuer and signed by
// one of our published keys (expiry ignored, as the specs allow for hints)
// and returns its claims. Unsigned ("alg": "none") or foreign tokens are
// rejected.
func (k *Keys) VerifyHint(hint, issuer string) (*HintClaims, bool) {
	if len(hint) > 8192 {
		return nil, false
	}
	jws, err := jose.ParseSigned(hint)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, false
	}
	key, ok := k.PublicKey(jws.Signatures[0].Header.KeyID)
	if !ok || jws.Signatures[0].Header.Algorithm != key.Algorithm {
		return nil, false
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, false
	}
	var c HintClaims
	if json.Unmarshal(payload, &c) != nil || c.Iss != issuer || c.Sub == "" {
		return nil, false
	}
	return &c, true
}
