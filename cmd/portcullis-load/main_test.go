package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIDP answers the four endpoints the scenarios use, checking what a
// real Portcullis checks: method, HTTP Basic credentials, the form.
type fakeIDP struct {
	tokens, introspections, discovery, jwks, logins atomic.Int64
	failEvery                                       int64 // token endpoint answers 500 to every n-th request
}

const (
	testID     = "machine"
	testSecret = "s3cret/+="
	testToken  = "tok-123"
)

func (f *fakeIDP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	basicOK := func() bool {
		id, secret, ok := r.BasicAuth()
		return ok && id == testID && secret == strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(testSecret, "/", "%2F"), "+", "%2B"), "=", "%3D")
	}
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		f.discovery.Add(1)
		fmt.Fprint(w, `{"issuer":"x"}`)
	case "/.well-known/jwks.json":
		f.jwks.Add(1)
		fmt.Fprint(w, `{"keys":[]}`)
	case "/oauth2/token":
		n := f.tokens.Add(1)
		if r.Method != http.MethodPost || !basicOK() || r.PostFormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		if f.failEvery > 0 && n%f.failEvery == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"error":"server_error","n":%d}`, n)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":899}`, testToken)
	case "/oauth2/introspect":
		f.introspections.Add(1)
		if r.Method != http.MethodPost || !basicOK() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"active":%t}`, r.PostFormValue("token") == testToken)
	case "/oauth2/auth":
		if r.URL.Query().Get("client_id") != testID || r.URL.Query().Get("redirect_uri") != testRedirect {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "portcullis", Value: "browser-1", Path: "/"})
		http.Redirect(w, r, "/login?auth_request=pending-1", http.StatusSeeOther)
	case "/login":
		f.logins.Add(1)
		c, err := r.Cookie("portcullis")
		switch {
		case r.Method != http.MethodPost || err != nil || c.Value != "browser-1" || r.PostFormValue("auth_request") != "pending-1":
			w.WriteHeader(http.StatusBadRequest)
		case r.PostFormValue("email") == testLegitEmail && r.PostFormValue("password") == testSecret:
			http.Redirect(w, r, "/login/code", http.StatusSeeOther)
		case f.logins.Load()%3 == 0:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	default:
		http.NotFound(w, r)
	}
}

const (
	testRedirect   = "https://app.example/cb"
	testLegitEmail = "ada@example.com"
)

func testConfig(target, scenario string) config {
	return config{
		Target: target, Scenario: scenario, ClientID: testID, ClientSecret: testSecret, RedirectURI: testRedirect,
		Concurrency: 4, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Timeout: 5 * time.Second, Sample: 20 * time.Millisecond, procRoot: "/proc",
	}
}

func TestScenarios(t *testing.T) {
	f := &fakeIDP{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	counters := map[string]*atomic.Int64{
		scDiscovery: &f.discovery, scJWKS: &f.jwks, scClientCredentials: &f.tokens, scIntrospect: &f.introspections,
		scWrongPassword: &f.logins,
	}
	for _, name := range scenarios {
		t.Run(name, func(t *testing.T) {
			before := counters[name].Load()
			rep, err := run(context.Background(), testConfig(srv.URL+"/", name), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Errors != 0 || rep.FirstError != "" {
				t.Fatalf("errors %d: %s", rep.Errors, rep.FirstError)
			}
			served := counters[name].Load() - before
			if rep.Requests == 0 || int64(rep.Requests) >= served {
				// The warm-up's requests reach the server but are not counted.
				t.Fatalf("requests %d, server saw %d", rep.Requests, served)
			}
			if rep.Throughput <= 0 || rep.P50 <= 0 || rep.P50 > rep.P90 || rep.P90 > rep.P99 || rep.P99 > rep.Max {
				t.Fatalf("implausible figures: %+v", rep)
			}
		})
	}
}

// TestWrongPasswordFlood: refusals are answers, counted by status, and
// the legitimate sign-ins beside the flood are timed.
func TestWrongPasswordFlood(t *testing.T) {
	srv := httptest.NewServer(&fakeIDP{})
	defer srv.Close()
	c := testConfig(srv.URL, scWrongPassword)
	c.Duration, c.LegitEmail, c.LegitPass, c.Spread = 1500*time.Millisecond, testLegitEmail, testSecret, true
	rep, err := run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 0 || rep.Statuses["401"] == 0 || rep.Statuses["429"] == 0 {
		t.Fatalf("statuses %v, errors %d (%s)", rep.Statuses, rep.Errors, rep.FirstError)
	}
	if rep.Legit == nil || rep.Legit.Attempts < 1 || rep.Legit.OK != rep.Legit.Attempts || rep.Legit.P50 <= 0 {
		t.Fatalf("legit sign-ins: %+v", rep.Legit)
	}
	var out bytes.Buffer
	rep.writeText(&out)
	if !strings.Contains(out.String(), "statuses    401×") || !strings.Contains(out.String(), "legit       ") {
		t.Fatalf("text report:\n%s", out.String())
	}
}

func TestIntrospectNeedsActiveToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			fmt.Fprint(w, `{"access_token":"other"}`)
			return
		}
		fmt.Fprint(w, `{"active":false}`)
	}))
	defer srv.Close()
	c := testConfig(srv.URL, scIntrospect)
	c.Warmup = 0
	rep, err := run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors == 0 || int(rep.Errors) != rep.Requests || !strings.Contains(rep.FirstError, "not active") {
		t.Fatalf("inactive answers must be errors: %+v", rep)
	}
}

func TestErrorsCountedAndFirstShownOnce(t *testing.T) {
	f := &fakeIDP{failEvery: 3}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := testConfig(srv.URL, scClientCredentials)
	c.Warmup = 0
	var warn bytes.Buffer
	rep, err := run(context.Background(), c, &warn)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors == 0 || rep.Errors > int64(rep.Requests) {
		t.Fatalf("errors %d of %d", rep.Errors, rep.Requests)
	}
	if !strings.HasPrefix(rep.FirstError, "HTTP 500: ") || !strings.Contains(rep.FirstError, "server_error") {
		t.Fatalf("first error %q", rep.FirstError)
	}
	if n := strings.Count(warn.String(), "first error"); n != 1 {
		t.Fatalf("first error printed %d times:\n%s", n, warn.String())
	}
	var out bytes.Buffer
	rep.writeText(&out)
	if !strings.Contains(out.String(), "first error HTTP 500") {
		t.Fatalf("report lacks the first error:\n%s", out.String())
	}
}

func TestWrongCredentialsFailSetUp(t *testing.T) {
	srv := httptest.NewServer(&fakeIDP{})
	defer srv.Close()
	c := testConfig(srv.URL, scIntrospect)
	c.ClientSecret = "wrong"
	_, err := run(context.Background(), c, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err = %v", err)
	}
}

func TestMemoryOfOwnProcess(t *testing.T) {
	srv := httptest.NewServer(&fakeIDP{})
	defer srv.Close()
	c := testConfig(srv.URL, scDiscovery)
	c.PID = os.Getpid()
	if _, _, err := readProc(c.procRoot, c.PID); err != nil {
		t.Skip("no /proc:", err)
	}
	rep, err := run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Memory
	if m == nil || m.Samples < 2 || m.MaxRSS <= 0 || m.HWM < m.MaxRSS || m.StartRSS > m.MaxRSS {
		t.Fatalf("memory %+v (%s)", m, rep.MemoryError)
	}
	var js bytes.Buffer
	if err := json.NewEncoder(&js).Encode(rep); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"requests", "errors", "throughput_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "memory"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, js.String())
		}
	}
}

func TestReadStatus(t *testing.T) {
	status := "Name:\tportcullis\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	rss, hwm, err := readStatus(strings.NewReader(status))
	if err != nil || rss != 40960*1024 || hwm != 51200*1024 {
		t.Fatalf("rss %d hwm %d err %v", rss, hwm, err)
	}
	if _, _, err := readStatus(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Fatal("a status without VmRSS must be an error")
	}

	// A fake /proc: a missing pid fails the run before any load.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "42", "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	if rss, _, err := readProc(root, 42); err != nil || rss != 40960*1024 {
		t.Fatalf("readProc: %d %v", rss, err)
	}
	srv := httptest.NewServer(&fakeIDP{})
	defer srv.Close()
	c := testConfig(srv.URL, scDiscovery)
	c.procRoot, c.PID = root, 43
	if _, err := run(context.Background(), c, io.Discard); err == nil || !strings.Contains(err.Error(), "-pid 43") {
		t.Fatalf("err = %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 90: 90 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := percentile(lat, p); got != want {
			t.Errorf("p%g = %v, want %v", p, got, want)
		}
	}
	if got := percentile(lat[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of none = %v", got)
	}
}

func TestFlags(t *testing.T) {
	c, err := parseFlags([]string{"-target", "http://127.0.0.1:9/", "-scenario", "jwks", "-c", "3", "-d", "1s", "-json"}, io.Discard)
	if err != nil || c.Target != "http://127.0.0.1:9" || c.Concurrency != 3 || c.Duration != time.Second || !c.JSON {
		t.Fatalf("%+v %v", c, err)
	}
	_, err = parseFlags([]string{"-scenario", "client-credentials", "-c", "0", "-target", "ftp://x"}, io.Discard)
	for _, want := range []string{"-client-id and -client-secret", "-c must be", "-target"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if _, err := parseFlags([]string{"-scenario", "password"}, io.Discard); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestParseStat(t *testing.T) {
	stat := "8353 (portcullis serve) S 1 8353 8353 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 4711 123456 8000 18446744073709551615\n"
	got, err := parseStat(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("cpu %v err %v", got, err)
	}
	if _, err := parseStat("8353 (x) S 1"); err == nil {
		t.Fatal("short stat accepted")
	}
	if _, err := readCPU("/proc", os.Getpid()); err != nil {
		t.Skip("no /proc:", err)
	}
	srv := httptest.NewServer(&fakeIDP{})
	defer srv.Close()
	c := testConfig(srv.URL, scDiscovery)
	c.PID = os.Getpid() // the test server runs in this process
	rep, err := run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.CPU.LoaderSeconds <= 0 || rep.CPU.LoaderCores <= 0 {
		t.Fatalf("cpu %+v", rep.CPU)
	}
	var out bytes.Buffer
	rep.writeText(&out)
	if !strings.Contains(out.String(), "cpu ") {
		t.Fatalf("report:\n%s", out.String())
	}
}
