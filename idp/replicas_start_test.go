package idp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/portcullis-idp/portcullis/mfa"
)

// TestReplicaProcessesStartingTogether starts three `portcullis serve`
// processes at once on a database with no signing key (PostgreSQL, as
// replicas run). They end with exactly one active signing key, all three
// publish the same key set, and an ID token from a real sign-in at each
// replica verifies against every replica's JWKS.
func TestReplicaProcessesStartingTogether(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t) // skips, or fails in CI, without PostgreSQL
	bin := buildPortcullis(t)
	dir := t.TempDir()
	r.urls = make([]string, 3)
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = freeLoopbackAddr(t)
		r.urls[i] = "http://" + addrs[i]
	}
	r.issuer = r.urls[0]
	procs := make([]*replicaProcess, 3)
	for i, addr := range addrs {
		procs[i] = launchReplicaProcess(t, bin, fmt.Sprintf("replica-%c", 'A'+i), addr, r, filepath.Join(dir, fmt.Sprint(i)))
	}
	for _, p := range procs {
		p.waitReady(t)
	}

	keys, err := r.store.PublishedSigningKeys(ctx, 0)
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("%d signing keys after three replicas started together, want 1", len(keys))
	}
	sets := make([]jose.JSONWebKeySet, 3)
	for i, u := range r.urls {
		sets[i] = fetchJWKS(t, u)
		if len(sets[i].Keys) != 1 || sets[i].Keys[0].KeyID != keys[0].KID {
			t.Errorf("replica %c publishes %d keys, want the one stored (%s)", 'A'+i, len(sets[i].Keys), keys[0].KID)
		}
	}

	// A sign-in at each replica; its ID token verifies with every
	// replica's keys.
	for i := range r.urls {
		u := r.newUser(t, fmt.Sprintf("start%d-%s@example.com", i, randomHex(3)))
		b := r.atCodePage(t, i, u)
		code, err := mfa.GenerateCode(u.secret, time.Now())
		must(t, err)
		resp, body, err := b.fc.do(r.codeRequest(b, code))
		must(t, err)
		if b.fc.landed == nil {
			t.Fatalf("sign-in at replica %c did not reach the client: %d %q", 'A'+i, resp.StatusCode, pageError(body))
		}
		idToken := exchangeAt(t, r.urls[i], r.client, b.fc.landed.Query().Get("code"), b.verifier)
		jws, err := jose.ParseSigned(idToken)
		must(t, err)
		for j, set := range sets {
			kid := jws.Signatures[0].Header.KeyID
			ks := set.Key(kid)
			if len(ks) != 1 {
				t.Errorf("the ID token of replica %c has kid %s, which replica %c does not publish", 'A'+i, kid, 'A'+j)
				continue
			}
			if _, err := jws.Verify(ks[0].Public()); err != nil {
				t.Errorf("the ID token of replica %c does not verify with replica %c's JWKS: %v", 'A'+i, 'A'+j, err)
			}
		}
	}
}

func fetchJWKS(t *testing.T, base string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	must(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	must(t, err)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS of %s: %v", base, err)
	}
	return set
}
