package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this package's main in a child process: the
// test binary re-executed with PORTCULLIS_TEST_RUN_MAIN=1 is portcullis
// (signals and exit codes are a process's, not a function's).
func TestMain(m *testing.M) {
	if os.Getenv("PORTCULLIS_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// portcullisProcess starts portcullis args as a child process with env (and
// nothing of the developer's PORTCULLIS_* settings).
type portcullisProcess struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

func startPortcullis(t *testing.T, env map[string]string, args ...string) *portcullisProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTCULLIS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PORTCULLIS_TEST_RUN_MAIN=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &portcullisProcess{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait returns the exit code, failing the test when the process is still
// running after limit (a generous bound, not a timing assertion).
func (p *portcullisProcess) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("portcullis still running after %s:\n%s", limit, p.out.String())
		return -1
	}
}

// silentDatabase listens on loopback, accepts every connection and never
// answers (a database host that is up but hung); accepted reports each
// connection.
func silentDatabase(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 100)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String(), ch
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeSilentDatabase: a database that accepts connections and never
// answers makes serve exit non-zero with a clear message once
// db.connect_timeout has passed, without ever binding its port; and
// SIGTERM while it waits stops it at once.
func TestServeSilentDatabase(t *testing.T) {
	dbAddr, accepted := silentDatabase(t)
	listen := freePort(t)
	env := map[string]string{
		"PORTCULLIS_SECRETS_KEY": testKey,
		"PORTCULLIS_DB":          "postgres://portcullis:s3cret-password@" + dbAddr + "/portcullis?sslmode=disable",
		"PORTCULLIS_DATA_DIR":    t.TempDir(),
		"PORTCULLIS_LISTEN":      listen,
		"PORTCULLIS_ISSUER":      "http://" + listen,
	}

	t.Run("timeout", func(t *testing.T) {
		env := maps(env, "PORTCULLIS_DB_CONNECT_TIMEOUT", "2s")
		p := startPortcullis(t, env, "serve")
		select {
		case <-accepted:
		case <-p.exited:
			t.Fatalf("serve exited before connecting:\n%s", p.out)
		case <-time.After(20 * time.Second):
			t.Fatalf("serve never connected to the database:\n%s", p.out)
		}
		// Waiting for the database, it has not bound its port.
		if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
			c.Close()
			t.Error("serve listens before its database answered")
		}
		if code := p.wait(t, 30*time.Second); code == exitOK {
			t.Fatalf("serve exited 0 after the database never answered:\n%s", p.out)
		}
		out := p.out.String()
		if !strings.Contains(out, "did not answer within 2s (db.connect_timeout)") {
			t.Errorf("no clear message about the database:\n%s", out)
		}
		if strings.Contains(out, "s3cret-password") {
			t.Errorf("the database password reached the output:\n%s", out)
		}
	})

	t.Run("SIGTERM while waiting", func(t *testing.T) {
		env := maps(env, "PORTCULLIS_DB_CONNECT_TIMEOUT", "10m")
		for len(accepted) > 0 { // the connections of the case before
			<-accepted
		}
		p := startPortcullis(t, env, "serve")
		select {
		case <-accepted:
		case <-p.exited:
			t.Fatalf("serve exited before connecting:\n%s", p.out)
		case <-time.After(20 * time.Second):
			t.Fatalf("serve never connected to the database:\n%s", p.out)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Stopped on request: it exits, and says why.
		p.wait(t, 15*time.Second)
		if !strings.Contains(p.out.String(), "interrupted while starting") {
			t.Errorf("serve did not say it was interrupted:\n%s", p.out)
		}
	})
}

// TestServeShutdownTimeoutExitsNonZero: when shutdown_timeout cuts off a
// request still in flight, serve exits non-zero so that its supervisor
// sees requests were lost.
func TestServeShutdownTimeoutExitsNonZero(t *testing.T) {
	env, _ := testEnv(t)
	env["PORTCULLIS_SHUTDOWN_TIMEOUT"] = "200ms"
	env["PORTCULLIS_LISTEN"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan started, 1)
	done := make(chan result, 1)
	go func() {
		done <- runCLIContext(ctx, t, env, "", func(s started) { up <- s }, "serve", "--log-format", "text")
	}()
	var s started
	select {
	case s = <-up:
	case r := <-done:
		t.Fatalf("serve exited at once: %d\n%s", r.code, r.stderr)
	}
	// A token request whose body never finishes arriving keeps its
	// handler (reading the form) busy past the shutdown timeout.
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=", s.Addr)
	// Wait until the server has the request (a complete request on
	// another connection is answered after it was read).
	if resp, err := http.Get("http://" + s.Addr + "/health/alive"); err == nil {
		resp.Body.Close()
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case r := <-done:
		if r.code == exitOK {
			t.Fatalf("serve exited 0 after cutting a request off:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, "cut off") {
			t.Errorf("serve did not say requests were cut off:\n%s", r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestServeCleanShutdownExitsZero: without requests in flight, a stop on
// request is a success.
func TestServeCleanShutdownExitsZero(t *testing.T) {
	env, _ := testEnv(t)
	env["PORTCULLIS_LISTEN"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan started, 1)
	done := make(chan result, 1)
	go func() { done <- runCLIContext(ctx, t, env, "", func(s started) { up <- s }, "serve") }()
	select {
	case <-up:
	case r := <-done:
		t.Fatalf("serve exited at once: %d\n%s", r.code, r.stderr)
	}
	cancel()
	if r := <-done; r.code != exitOK {
		t.Fatalf("serve exited %d after a clean shutdown:\n%s", r.code, r.stderr)
	}
}

// maps returns a copy of m with k set to v.
func maps(m map[string]string, k, v string) map[string]string {
	c := make(map[string]string, len(m)+1)
	for mk, mv := range m {
		c[mk] = mv
	}
	c[k] = v
	return c
}

// TestServeMetricsOnTheirOwnListener: with metrics.listen, /metrics is
// served there (the provider's requests counted by route) and the public
// port answers it 404; without it there is no metrics listener at all.
func TestServeMetricsOnTheirOwnListener(t *testing.T) {
	env, _ := testEnv(t)
	env["PORTCULLIS_LISTEN"] = "127.0.0.1:0"
	env["PORTCULLIS_METRICS_LISTEN"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan started, 1)
	done := make(chan result, 1)
	go func() { done <- runCLIContext(ctx, t, env, "", func(s started) { up <- s }, "serve") }()
	var s started
	select {
	case s = <-up:
	case r := <-done:
		t.Fatalf("serve exited at once: %d\n%s", r.code, r.stderr)
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := get("http://" + s.Addr + "/.well-known/openid-configuration"); status != http.StatusOK {
		t.Fatalf("discovery: %d", status)
	}
	if status, _ := get("http://" + s.Addr + "/metrics"); status != http.StatusNotFound {
		t.Errorf("the public port answers /metrics: %d", status)
	}
	if s.MetricsAddr == "" {
		t.Fatal("no metrics listener")
	}
	status, body := get("http://" + s.MetricsAddr + "/metrics")
	if status != http.StatusOK || !strings.Contains(body, `portcullis_http_requests_total{code="2xx",route="GET /.well-known/openid-configuration"} 1`) {
		t.Fatalf("metrics: %d\n%.2000s", status, body)
	}
	cancel()
	if r := <-done; r.code != exitOK {
		t.Fatalf("serve exited %d:\n%s", r.code, r.stderr)
	}
}

// TestMemoryLimitLeavesRoomForHashes: the soft memory limit is never set
// below what the allowed concurrent argon2id hashes hold.
func TestMemoryLimitLeavesRoomForHashes(t *testing.T) {
	if got := hashingFloorMiB(4); got != 32+4*19 {
		t.Errorf("floor for 4 hashes = %d MiB, want %d", got, 32+4*19)
	}
	if got := hashingFloorMiB(0); got < 32+19 {
		t.Errorf("floor for one per CPU = %d MiB", got)
	}
}
