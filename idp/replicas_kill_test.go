package idp_test

import (
	"fmt"
	"html"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/mfa"
	"golang.org/x/oauth2"
)

// TestKillReplicaDuringSignIns: kill -9 of one of two serve processes
// while sign-ins run against both (forced enrollments of new users and
// code sign-ins of enrolled ones) loses only the requests the killed one
// had in flight. The database holds no half-written enrollment or
// session: every confirmed authenticator has its recovery key and
// counter, every MFA-level session belongs to a user with a confirmed
// authenticator, and no user holds a session without having passed both
// steps. The survivor keeps serving. PostgreSQL only.
func TestKillReplicaDuringSignIns(t *testing.T) {
	r := newReplicas(t)
	bin := buildPortcullis(t)
	dir := t.TempDir()
	addrs := [2]string{freeLoopbackAddr(t), freeLoopbackAddr(t)}
	r.issuer = "http://" + addrs[0]
	var procs [2]*replicaProcess
	for i, addr := range addrs {
		r.urls[i] = "http://" + addr
		procs[i] = launchReplicaProcess(t, bin, fmt.Sprintf("replica-%c", 'A'+i), addr, r, filepath.Join(dir, fmt.Sprint(i)))
		procs[i].waitReady(t)
	}

	type job struct {
		email  string
		secret mfa.Secret // empty: enrolls during the sign-in
	}
	var jobs []job
	for n := range 40 {
		email := fmt.Sprintf("kill-%d@example.com", n)
		if n%2 == 0 {
			_, secret := enrollTOTP(t, r.store, r.tenant.ID, email, r.hash)
			jobs = append(jobs, job{email: email, secret: secret})
			continue
		}
		must(t, r.store.CreateUser(t.Context(), &store.User{TenantID: r.tenant.ID, Email: email, PasswordHash: r.hash}))
		jobs = append(jobs, job{email: email})
	}

	start := time.Now()
	var killed atomic.Bool
	var survivorOK, survivorFailed, killedLost atomic.Int64
	var firstSurvivorErr atomic.Value
	var wg sync.WaitGroup
	queue := make(chan int)
	for range 8 {
		wg.Go(func() {
			for n := range queue {
				i := n % 2
				err := signInOnce(r, i, jobs[n].email, jobs[n].secret)
				switch {
				case err == nil && i == 0:
					survivorOK.Add(1)
				case err != nil && i == 0:
					survivorFailed.Add(1)
					firstSurvivorErr.CompareAndSwap(nil, err.Error())
				case err != nil && killed.Load():
					killedLost.Add(1)
				case err != nil:
					firstSurvivorErr.CompareAndSwap(nil, "replica B before the kill: "+err.Error())
					survivorFailed.Add(1)
				}
			}
		})
	}
	go func() {
		// Kill while sign-ins are running: once a few have completed.
		for survivorOK.Load() < 3 && time.Since(start) < 20*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
		killed.Store(true)
		_ = procs[1].cmd.Process.Kill() // SIGKILL: no shutdown, no deferred work
	}()
	for n := range jobs {
		queue <- n
	}
	close(queue)
	wg.Wait()
	if survivorFailed.Load() > 0 {
		t.Fatalf("%d sign-ins failed at the surviving replica (or before the kill); first: %v", survivorFailed.Load(), firstSurvivorErr.Load())
	}
	t.Logf("survivor completed %d sign-ins; %d were lost with the killed replica", survivorOK.Load(), killedLost.Load())

	for _, check := range []struct{ what, query string }{
		{"confirmed authenticators without a recovery key",
			`SELECT count(*) FROM mfa_authenticators a WHERE a.confirmed_at IS NOT NULL
			   AND NOT EXISTS (SELECT 1 FROM mfa_recovery_keys k WHERE k.user_id = a.user_id)`},
		{"confirmed authenticators without a counter row",
			`SELECT count(*) FROM mfa_authenticators a WHERE a.confirmed_at IS NOT NULL
			   AND NOT EXISTS (SELECT 1 FROM mfa_attempts c WHERE c.user_id = a.user_id)`},
		{"sessions of users without a confirmed authenticator (the tenant requires 2FA)",
			`SELECT count(*) FROM browser_sessions s WHERE NOT EXISTS
			   (SELECT 1 FROM mfa_authenticators a WHERE a.user_id = s.user_id AND a.confirmed_at IS NOT NULL)`},
		{"sessions below the MFA level",
			`SELECT count(*) FROM browser_sessions s WHERE s.acr <> 'urn:portcullis:loa:2fa'`},
	} {
		var n int64
		must(t, r.store.DB().Raw(check.query).Scan(&n).Error)
		if n != 0 {
			t.Errorf("%s: %d", check.what, n)
		}
	}

	// The survivor signs a user in from scratch after the kill.
	email := "after-kill@example.com"
	_, secret := enrollTOTP(t, r.store, r.tenant.ID, email, r.hash)
	if err := signInOnce(r, 0, email, secret); err != nil {
		t.Fatalf("sign-in at the survivor after the kill: %v", err)
	}
}

// signInOnce signs email in at replica i in a new browser: password, then
// a code from secret or, without one, the three enrollment steps.
func signInOnce(r *replicas, i int, email string, secret mfa.Secret) error {
	base := r.urls[i]
	fc := newFlowClient(nil)
	defer fc.c.CloseIdleConnections()
	resp, body, err := fc.get(r.authURL(i, oauth2.GenerateVerifier()))
	if err != nil {
		return err
	}
	if err := wantPage(resp, body, "/login"); err != nil {
		return err
	}
	ar, err := authRequestOf(body)
	if err != nil {
		return err
	}
	resp, body, err = fc.post(base+"/login", url.Values{"auth_request": {ar}, "email": {email}, "password": {testPassword}})
	if err != nil {
		return err
	}
	if secret != "" {
		if err := wantPage(resp, body, "/login/code"); err != nil {
			return err
		}
		code, err := mfa.GenerateCode(secret, time.Now())
		if err != nil {
			return err
		}
		_, err = fc.submitCode(base, ar, code)
		return err
	}
	if err := wantPage(resp, body, "/enroll"); err != nil {
		return err
	}
	m := otpauthRe.FindStringSubmatch(body)
	if m == nil {
		return fmt.Errorf("no otpauth link on the enrollment page")
	}
	link, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return err
	}
	enrolled := mfa.Secret(link.Query().Get("secret"))
	if resp, body, err = fc.post(base+"/enroll", url.Values{"auth_request": {ar}}); err != nil {
		return err
	}
	if err := wantPage(resp, body, "/enroll/recovery-key"); err != nil {
		return err
	}
	if resp, body, err = fc.post(base+"/enroll/recovery-key", url.Values{"auth_request": {ar}, "stored": {"yes"}}); err != nil {
		return err
	}
	if err := wantPage(resp, body, "/enroll/verify"); err != nil {
		return err
	}
	code, err := mfa.GenerateCode(enrolled, time.Now())
	if err != nil {
		return err
	}
	resp, body, err = fc.post(base+"/enroll/verify", url.Values{"auth_request": {ar}, "code": {code}})
	if err != nil {
		return err
	}
	if fc.landed == nil || fc.landed.Query().Get("code") == "" {
		return fmt.Errorf("enrollment ended at %s (%d):\n%.400s", resp.Request.URL, resp.StatusCode, body)
	}
	return nil
}
