package idp_test

import (
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/store/storetest"
)

// Benchmarks over real HTTP (loopback) with benchClients concurrent
// clients, e.g.
//
//	go test ./idp -run '^$' -bench .
//
// They report requests per second; timings on a shared machine are noisy,
// so compare ratios and medians, never assert.

// benchClients is how many clients the HTTP benchmarks run at once: the
// figures the project is held to are for eight. They are b.RunParallel
// goroutines on the machine's own GOMAXPROCS, which is what the server
// runs with in production. (-cpu 8 would also give the server eight OS
// threads on a two-core machine, and measure them evicting each other's
// caches: argon2 alone loses a third of its throughput that way.)
const benchClients = 8

// parallelClients makes the next b.RunParallel start at least
// benchClients goroutines and returns how many it will start.
func parallelClients(b *testing.B) int {
	procs := runtime.GOMAXPROCS(0)
	p := (benchClients + procs - 1) / procs
	b.SetParallelism(p)
	return p * procs
}

func benchBackends(b *testing.B, f func(b *testing.B, e *env)) {
	benchStores(b, func(b *testing.B, open func(testing.TB) *store.Store) { f(b, newEnv(b, open)) })
}

// benchStores runs f as a sub-benchmark per backend (sqlite, then postgres
// when configured) with the backend's store opener, for benchmarks that
// build their own provider.
func benchStores(b *testing.B, f func(b *testing.B, open func(testing.TB) *store.Store)) {
	names := []string{"sqlite"}
	opens := map[string]func(testing.TB) *store.Store{"sqlite": storetest.OpenSQLite}
	if storetestHasPostgres() {
		names = append(names, "postgres")
		opens["postgres"] = storetest.OpenPostgres
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) { f(b, opens[name]) })
	}
}

func storetestHasPostgres() bool {
	return getenv(storetest.PostgresDSNEnv) != ""
}

func benchHTTP(b *testing.B, newReq func() *http.Request) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	parallelClients(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(newReq())
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkDiscovery(b *testing.B) {
	benchBackends(b, func(b *testing.B, e *env) {
		benchHTTP(b, func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.issuer+"/.well-known/openid-configuration", nil)
			return r
		})
	})
}

func BenchmarkJWKS(b *testing.B) {
	benchBackends(b, func(b *testing.B, e *env) {
		benchHTTP(b, func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.issuer+"/.well-known/jwks.json", nil)
			return r
		})
	})
}

func clientCredentialsRequest(e *env) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(e.machine.ID, e.mSecret)
	return r
}

func BenchmarkClientCredentials(b *testing.B) {
	benchBackends(b, func(b *testing.B, e *env) {
		benchHTTP(b, func() *http.Request { return clientCredentialsRequest(e) })
	})
}

func BenchmarkIntrospection(b *testing.B) {
	benchBackends(b, func(b *testing.B, e *env) {
		resp, err := http.DefaultClient.Do(clientCredentialsRequest(e))
		must(b, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		token := between(string(body), `"access_token":"`, `"`)
		benchHTTP(b, func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(e.machine.ID, e.mSecret)
			return r
		})
	})
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}
