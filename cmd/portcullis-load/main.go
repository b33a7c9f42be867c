// Command portcullis-load generates HTTP load against a running Portcullis
// and reports throughput, latency percentiles and, optionally, the
// server's resident memory. It uses the standard library only.
//
//	portcullis-load -target http://127.0.0.1:8080 -scenario client-credentials \
//	    -client-id ID -client-secret SECRET -c 8 -d 20s [-warmup 2s] [-pid PID] [-json]
//
// Scenarios:
//
//	discovery           GET  /.well-known/openid-configuration
//	jwks                GET  /.well-known/jwks.json
//	client-credentials  POST /oauth2/token, grant_type=client_credentials, HTTP Basic
//	introspect          one client-credentials token first, then
//	                    POST /oauth2/introspect token=…, HTTP Basic, repeatedly;
//	                    an answer without "active":true counts as an error
//	wrong-password      one pending sign-in first (GET /oauth2/auth with
//	                    -client-id and -redirect-uri), then POST /login with
//	                    a random email and password, repeatedly: 401 (refused
//	                    after a hash), 429 (limited) and 503 (hashing gate
//	                    full) are expected answers, counted by status. With
//	                    -spread every post claims its own X-Forwarded-For
//	                    address (the server must trust the loader as a proxy).
//	                    With -legit-email (and -legit-password or
//	                    PORTCULLIS_LOAD_LEGIT_PASSWORD) a real sign-in from
//	                    address 192.0.2.200 runs every second during the
//	                    flood and its password step's latency is reported.
//
// -c workers each send one request after another over keep-alive
// connections of one shared http.Transport (MaxIdleConnsPerHost = c). After
// an optional warm-up (not counted), every request's latency is recorded
// and the list is sorted at the end: p50/p90/p99 are nearest-rank
// percentiles. A non-2xx answer or a transport failure is an error; the
// first one's body is printed once. With -pid the target's VmRSS is read
// from /proc/PID/status every -sample interval and VmHWM (its peak since
// it started) at the end, and the CPU time it used while measured (from
// /proc/PID/stat) is reported per request, a figure that stays meaningful
// on a busy machine where req/s does not. The load generator's own CPU use
// is reported too: on a small machine it competes with the target.
//
// Exit status: 0, 1 if any request failed, 2 on a usage or set-up error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Scenario names.
const (
	scDiscovery         = "discovery"
	scJWKS              = "jwks"
	scClientCredentials = "client-credentials"
	scIntrospect        = "introspect"
	scWrongPassword     = "wrong-password"
)

var scenarios = []string{scDiscovery, scJWKS, scClientCredentials, scIntrospect, scWrongPassword}

// config is what one run is asked to do.
type config struct {
	Target       string
	Scenario     string
	ClientID     string
	ClientSecret string
	Scope        string
	Concurrency  int
	Duration     time.Duration
	Warmup       time.Duration
	Timeout      time.Duration
	PID          int
	Sample       time.Duration
	JSON         bool
	RedirectURI  string
	Spread       bool
	LegitEmail   string
	LegitPass    string
	// procRoot is /proc; tests point it elsewhere.
	procRoot string
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis-load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis-load:", err)
		os.Exit(2)
	}
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.writeText(os.Stdout)
	}
	if rep.Errors > 0 {
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{procRoot: "/proc"}
	fs := flag.NewFlagSet("portcullis-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base URL of the Portcullis server")
	fs.StringVar(&cfg.Scenario, "scenario", scDiscovery, "one of: "+strings.Join(scenarios, ", "))
	fs.StringVar(&cfg.ClientID, "client-id", "", "client id (client-credentials, introspect)")
	fs.StringVar(&cfg.ClientSecret, "client-secret", "", "client secret (client-credentials, introspect); or PORTCULLIS_LOAD_CLIENT_SECRET")
	fs.StringVar(&cfg.Scope, "scope", "", "scope to request with client credentials (optional)")
	fs.IntVar(&cfg.Concurrency, "c", 8, "concurrent workers (keep-alive connections)")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warm-up before measuring (not counted; 0 for none)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "timeout of one request")
	fs.IntVar(&cfg.PID, "pid", 0, "report this process's resident memory (/proc/PID/status) and CPU time (/proc/PID/stat)")
	fs.DurationVar(&cfg.Sample, "sample", 200*time.Millisecond, "RSS sampling interval with -pid")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", "", "a redirect URI of -client-id (wrong-password)")
	fs.BoolVar(&cfg.Spread, "spread", false, "wrong-password: every post from its own X-Forwarded-For address")
	fs.StringVar(&cfg.LegitEmail, "legit-email", "", "wrong-password: also sign this user in every second and report the latency")
	fs.StringVar(&cfg.LegitPass, "legit-password", "", "the password of -legit-email; or PORTCULLIS_LOAD_LEGIT_PASSWORD")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: portcullis-load -target URL -scenario NAME [-client-id ID -client-secret S] [-c N] [-d DUR] [-pid PID] [-json]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = os.Getenv("PORTCULLIS_LOAD_CLIENT_SECRET")
	}
	if cfg.LegitPass == "" {
		cfg.LegitPass = os.Getenv("PORTCULLIS_LOAD_LEGIT_PASSWORD")
	}
	return cfg, cfg.check()
}

func (c *config) check() error {
	var problems []string
	u, err := url.Parse(c.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("-target %q: want an http(s) base URL", c.Target))
	}
	c.Target = strings.TrimRight(c.Target, "/")
	if !slices.Contains(scenarios, c.Scenario) {
		problems = append(problems, fmt.Sprintf("-scenario %q: want one of %s", c.Scenario, strings.Join(scenarios, ", ")))
	}
	if (c.Scenario == scClientCredentials || c.Scenario == scIntrospect) && (c.ClientID == "" || c.ClientSecret == "") {
		problems = append(problems, "-client-id and -client-secret are required for "+c.Scenario)
	}
	if c.Scenario == scWrongPassword && (c.ClientID == "" || c.RedirectURI == "") {
		problems = append(problems, "-client-id and -redirect-uri are required for "+c.Scenario)
	}
	if c.LegitEmail != "" && c.LegitPass == "" {
		problems = append(problems, "-legit-email needs -legit-password (or PORTCULLIS_LOAD_LEGIT_PASSWORD)")
	}
	if c.LegitEmail != "" && (c.ClientID == "" || c.RedirectURI == "") {
		problems = append(problems, "-legit-email needs -client-id and -redirect-uri")
	}
	if c.Concurrency < 1 {
		problems = append(problems, "-c must be at least 1")
	}
	if c.Duration <= 0 {
		problems = append(problems, "-d must be positive")
	}
	if c.Warmup < 0 {
		problems = append(problems, "-warmup must not be negative")
	}
	if c.Timeout <= 0 {
		problems = append(problems, "-timeout must be positive")
	}
	if c.PID < 0 {
		problems = append(problems, "-pid must be a process id")
	}
	if c.PID > 0 && c.Sample <= 0 {
		problems = append(problems, "-sample must be positive")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// requestFunc builds one request of the scenario; check, when set, says
// what is wrong with a 2xx answer's body.
type requestFunc func() *http.Request

type scenario struct {
	newRequest requestFunc
	check      func(body []byte) error
	// expected, when set, says which non-2xx statuses are answers, not
	// errors.
	expected func(status int) bool
}

func formPost(target string, form url.Values, id, secret string) requestFunc {
	body := form.Encode()
	return func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r
	}
}

func get(target string) requestFunc {
	return func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, target, nil)
		return r
	}
}

func (c *config) tokenRequest() requestFunc {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.Scope != "" {
		form.Set("scope", c.Scope)
	}
	return formPost(c.Target+"/oauth2/token", form, c.ClientID, c.ClientSecret)
}

// buildScenario prepares the requests, fetching a token for introspect.
func buildScenario(ctx context.Context, c *config, client *http.Client) (scenario, error) {
	switch c.Scenario {
	case scDiscovery:
		return scenario{newRequest: get(c.Target + "/.well-known/openid-configuration")}, nil
	case scJWKS:
		return scenario{newRequest: get(c.Target + "/.well-known/jwks.json")}, nil
	case scClientCredentials:
		return scenario{newRequest: c.tokenRequest()}, nil
	case scIntrospect:
		token, err := fetchToken(ctx, client, c.tokenRequest())
		if err != nil {
			return scenario{}, err
		}
		return scenario{
			newRequest: formPost(c.Target+"/oauth2/introspect", url.Values{"token": {token}}, c.ClientID, c.ClientSecret),
			check: func(body []byte) error {
				var v struct {
					Active bool `json:"active"`
				}
				if err := json.Unmarshal(body, &v); err != nil || !v.Active {
					return errors.New("token not active")
				}
				return nil
			},
		}, nil
	}
	if c.Scenario == scWrongPassword {
		return wrongPasswords(ctx, c, client)
	}
	return scenario{}, fmt.Errorf("unknown scenario %q", c.Scenario)
}

func fetchToken(ctx context.Context, client *http.Client, newReq requestFunc) (string, error) {
	resp, err := client.Do(newReq().WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("get a token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get a token: HTTP %d: %s", resp.StatusCode, clip(body))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("get a token: no access_token in %s", clip(body))
	}
	return tok.AccessToken, nil
}

func clip(b []byte) string {
	const max = 500
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// firstError keeps the first failure's description, reported once.
type firstError struct {
	mu   sync.Mutex
	msg  string
	warn io.Writer
}

func (f *firstError) set(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msg != "" {
		return
	}
	f.msg = msg
	if f.warn != nil {
		fmt.Fprintln(f.warn, "portcullis-load: first error:", msg)
	}
}

func (f *firstError) get() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}

// phaseResult is what the workers of one phase measured.
type phaseResult struct {
	latencies []time.Duration
	errors    int64
	elapsed   time.Duration
	statuses  map[int]int64
}

// runPhase lets c.Concurrency workers send requests until d has passed
// (requests in flight then are finished and counted) or ctx ends.
func runPhase(ctx context.Context, c *config, client *http.Client, sc scenario, d time.Duration, record bool, first *firstError) phaseResult {
	start := time.Now()
	deadline := start.Add(d)
	var errs atomic.Int64
	perWorker := make([][]time.Duration, c.Concurrency)
	statuses := make([]map[int]int64, c.Concurrency)
	var wg sync.WaitGroup
	for w := range c.Concurrency {
		wg.Go(func() {
			var lat []time.Duration
			if record {
				lat = make([]time.Duration, 0, 4096)
			}
			var buf bytes.Buffer
			statuses[w] = map[int]int64{}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				failure := do(client, sc, &buf, statuses[w])
				el := time.Since(t0)
				if record {
					lat = append(lat, el)
				}
				if failure != "" {
					if ctx.Err() != nil {
						break // interrupted: not the server's failure
					}
					errs.Add(1)
					first.set(failure)
				}
			}
			perWorker[w] = lat
		})
	}
	wg.Wait()
	res := phaseResult{errors: errs.Load(), elapsed: time.Since(start), statuses: map[int]int64{}}
	for _, m := range statuses {
		for k, v := range m {
			res.statuses[k] += v
		}
	}
	if record {
		n := 0
		for _, l := range perWorker {
			n += len(l)
		}
		res.latencies = make([]time.Duration, 0, n)
		for _, l := range perWorker {
			res.latencies = append(res.latencies, l...)
		}
	}
	return res
}

// do sends one request and reads the whole answer; it returns a
// description of the failure, or "".
func do(client *http.Client, sc scenario, buf *bytes.Buffer, statuses map[int]int64) string {
	resp, err := client.Do(sc.newRequest())
	if err != nil {
		return err.Error()
	}
	buf.Reset()
	_, rerr := buf.ReadFrom(resp.Body)
	resp.Body.Close()
	statuses[resp.StatusCode]++
	switch {
	case sc.expected != nil && sc.expected(resp.StatusCode):
		return ""
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, clip(buf.Bytes()))
	case rerr != nil:
		return "reading the answer: " + rerr.Error()
	case sc.check != nil:
		if err := sc.check(buf.Bytes()); err != nil {
			return fmt.Sprintf("HTTP %d but %v: %s", resp.StatusCode, err, clip(buf.Bytes()))
		}
	}
	return ""
}

// memory is the target's resident memory in bytes.
type memory struct {
	StartRSS int64 `json:"rss_start_bytes"`
	MaxRSS   int64 `json:"rss_max_bytes"` // highest sample during the measured phase
	EndRSS   int64 `json:"rss_end_bytes"`
	// HWM is the kernel's peak since the process started (VmHWM), raised to
	// MaxRSS if lower: the kernel folds per-thread RSS counters in lazily,
	// so a fresh VmRSS sample can exceed the VmHWM read with it.
	HWM     int64 `json:"vm_hwm_bytes"`
	Samples int   `json:"samples"`
}

// readStatus returns VmRSS and VmHWM (bytes) from a /proc/PID/status text.
func readStatus(r io.Reader) (rss, hwm int64, err error) {
	sc := bufio.NewScanner(r)
	found := 0
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("%s: %w", name, perr)
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		if name == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found < 2 {
		return 0, 0, errors.New("no VmRSS/VmHWM (a kernel thread, or a process that exited?)")
	}
	return rss, hwm, nil
}

func readProc(procRoot string, pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return readStatus(f)
}

// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on
// every mainstream Linux architecture; the standard library has no sysconf).
const userHZ = 100

// readCPU returns the CPU time (user + system, all threads) a process has
// used, from /proc/PID/stat.
func readCPU(procRoot string, pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

func parseStat(stat string) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may contain spaces.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// ownCPU is the CPU time this process (the load generator) has used.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuUse is the CPU time spent during the measured phase.
type cpuUse struct {
	TargetSeconds    float64 `json:"target_cpu_seconds,omitempty"`
	TargetPerRequest float64 `json:"target_cpu_us_per_request,omitempty"` // noise-robust cost of one request
	TargetCores      float64 `json:"target_cores,omitempty"`              // average cores busy
	LoaderSeconds    float64 `json:"loader_cpu_seconds"`
	LoaderCores      float64 `json:"loader_cores"`
}

// sampler reads VmRSS until stop is closed.
type sampler struct {
	mu  sync.Mutex
	mem memory
	err error
}

func (s *sampler) run(procRoot string, pid int, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample(procRoot, pid)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (s *sampler) sample(procRoot string, pid int) {
	rss, hwm, err := readProc(procRoot, pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	if s.mem.Samples == 0 {
		s.mem.StartRSS = rss
	}
	s.mem.Samples++
	s.mem.MaxRSS = max(s.mem.MaxRSS, rss)
	s.mem.EndRSS = rss
	s.mem.HWM = max(s.mem.HWM, hwm, s.mem.MaxRSS)
}

// report is the outcome of a run.
type report struct {
	Target      string           `json:"target"`
	Scenario    string           `json:"scenario"`
	Concurrency int              `json:"concurrency"`
	Duration    float64          `json:"duration_seconds"` // measured wall time
	Warmup      float64          `json:"warmup_seconds"`
	Requests    int              `json:"requests"`
	Errors      int64            `json:"errors"`
	FirstError  string           `json:"first_error,omitempty"`
	Throughput  float64          `json:"throughput_rps"`
	P50         float64          `json:"p50_ms"`
	P90         float64          `json:"p90_ms"`
	P99         float64          `json:"p99_ms"`
	Max         float64          `json:"max_ms"`
	Mean        float64          `json:"mean_ms"`
	Interrupted bool             `json:"interrupted,omitempty"`
	PID         int              `json:"pid,omitempty"`
	Statuses    map[string]int64 `json:"statuses"`
	Legit       *legitResult     `json:"legit_sign_in,omitempty"`
	Memory      *memory          `json:"memory,omitempty"`
	MemoryError string           `json:"memory_error,omitempty"`
	CPU         cpuUse           `json:"cpu"`
}

// percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// run performs the warm-up and the measured phase; warn receives progress
// notes and the first error as it happens.
func run(ctx context.Context, c config, warn io.Writer) (*report, error) {
	c.Target = strings.TrimRight(c.Target, "/")
	transport := &http.Transport{
		Proxy:               nil, // measure the server, not a proxy
		MaxIdleConns:        c.Concurrency * 2,
		MaxIdleConnsPerHost: c.Concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		Timeout:   c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, not followed
		},
	}
	sc, err := buildScenario(ctx, &c, client)
	if err != nil {
		return nil, err
	}
	if c.PID > 0 { // fail early on a wrong pid
		if _, _, err := readProc(c.procRoot, c.PID); err != nil {
			return nil, fmt.Errorf("-pid %d: %w", c.PID, err)
		}
	}
	if c.Warmup > 0 {
		runPhase(ctx, &c, client, sc, c.Warmup, false, &firstError{})
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}

	var smp *sampler
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	if c.PID > 0 {
		smp = &sampler{}
		sampling.Go(func() { smp.run(c.procRoot, c.PID, c.Sample, stop) })
	}
	first := &firstError{warn: warn}
	var targetCPU0 time.Duration
	if c.PID > 0 {
		targetCPU0, _ = readCPU(c.procRoot, c.PID)
	}
	loaderCPU0 := ownCPU()
	var legit *legitResult
	var legitDone sync.WaitGroup
	if c.LegitEmail != "" {
		legitDone.Go(func() { legit = legitSignIns(ctx, &c, c.Duration) })
	}
	res := runPhase(ctx, &c, client, sc, c.Duration, true, first)
	legitDone.Wait()
	loaderCPU := ownCPU() - loaderCPU0
	var targetCPU time.Duration
	if c.PID > 0 {
		if t, err := readCPU(c.procRoot, c.PID); err == nil {
			targetCPU = t - targetCPU0
		}
	}
	close(stop)
	sampling.Wait()
	if smp != nil {
		smp.sample(c.procRoot, c.PID) // the final VmHWM
	}

	slices.Sort(res.latencies)
	rep := &report{
		Target: c.Target, Scenario: c.Scenario, Concurrency: c.Concurrency,
		Duration: math.Round(res.elapsed.Seconds()*1000) / 1000, Warmup: c.Warmup.Seconds(),
		Requests: len(res.latencies), Errors: res.errors, FirstError: first.get(),
		P50: ms(percentile(res.latencies, 50)), P90: ms(percentile(res.latencies, 90)),
		P99: ms(percentile(res.latencies, 99)), Max: ms(percentile(res.latencies, 100)),
		Interrupted: ctx.Err() != nil, Legit: legit, Statuses: map[string]int64{},
	}
	for code, n := range res.statuses {
		rep.Statuses[strconv.Itoa(code)] = n
	}
	if res.elapsed > 0 {
		rep.Throughput = math.Round(float64(rep.Requests)/res.elapsed.Seconds()*10) / 10
	}
	round3 := func(f float64) float64 { return math.Round(f*1000) / 1000 }
	if res.elapsed > 0 {
		rep.CPU.LoaderSeconds = round3(loaderCPU.Seconds())
		rep.CPU.LoaderCores = round3(loaderCPU.Seconds() / res.elapsed.Seconds())
		if targetCPU > 0 {
			rep.CPU.TargetSeconds = round3(targetCPU.Seconds())
			rep.CPU.TargetCores = round3(targetCPU.Seconds() / res.elapsed.Seconds())
			if rep.Requests > 0 {
				rep.CPU.TargetPerRequest = math.Round(float64(targetCPU.Microseconds())/float64(rep.Requests)*10) / 10
			}
		}
	}
	if n := len(res.latencies); n > 0 {
		var sum time.Duration
		for _, l := range res.latencies {
			sum += l
		}
		rep.Mean = ms(sum / time.Duration(n))
	}
	if smp != nil {
		rep.PID = c.PID
		smp.mu.Lock()
		if smp.mem.Samples > 0 {
			m := smp.mem
			rep.Memory = &m
		}
		if smp.err != nil {
			rep.MemoryError = smp.err.Error()
		}
		smp.mu.Unlock()
	}
	return rep, nil
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func (r *report) writeText(w io.Writer) {
	fmt.Fprintf(w, "scenario    %s  %s  c=%d  %.1fs (warm-up %gs)\n", r.Scenario, r.Target, r.Concurrency, r.Duration, r.Warmup)
	fmt.Fprintf(w, "requests    %d  errors %d\n", r.Requests, r.Errors)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted before the end of the run")
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error %s\n", r.FirstError)
	}
	fmt.Fprintf(w, "throughput  %.1f req/s\n", r.Throughput)
	fmt.Fprintf(w, "latency     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  (mean %.2fms)\n", r.P50, r.P90, r.P99, r.Max, r.Mean)
	codes := slices.Sorted(maps.Keys(r.Statuses))
	var parts []string
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%s×%d", code, r.Statuses[code]))
	}
	fmt.Fprintf(w, "statuses    %s\n", strings.Join(parts, "  "))
	if l := r.Legit; l != nil {
		fmt.Fprintf(w, "legit       %d sign-ins, %d passed the password step  p50 %.2fms  max %.2fms\n", l.Attempts, l.OK, l.P50, l.Max)
	}
	if r.Memory != nil {
		m := r.Memory
		fmt.Fprintf(w, "memory      pid %d  VmRSS start %s  max %s  end %s  VmHWM %s  (%d samples)\n",
			r.PID, mb(m.StartRSS), mb(m.MaxRSS), mb(m.EndRSS), mb(m.HWM), m.Samples)
	}
	if r.MemoryError != "" {
		fmt.Fprintf(w, "memory      %s\n", r.MemoryError)
	}
	if c := r.CPU; c.TargetSeconds > 0 {
		fmt.Fprintf(w, "cpu         target %.1fs (%.2f cores, %.0fµs/request)  load generator %.2f cores\n",
			c.TargetSeconds, c.TargetCores, c.TargetPerRequest, c.LoaderCores)
	} else {
		fmt.Fprintf(w, "cpu         load generator %.2f cores\n", c.LoaderCores)
	}
}
