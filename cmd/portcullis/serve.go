package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-idp/portcullis/idp"
	"github.com/portcullis-idp/portcullis/idp/config"
	"github.com/portcullis-idp/portcullis/idp/demo"
	"github.com/portcullis-idp/portcullis/idp/metrics"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/throttle"
	"github.com/portcullis-idp/portcullis/templates"
)

func newServeCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the OpenID provider",
		Long: `Run the OpenID provider until SIGINT or SIGTERM, then finish the requests
in flight (up to shutdown_timeout) and stop. The database schema is brought
up to date at start.

A secrets key is required (PORTCULLIS_SECRETS_KEY or secrets_key_file).

With --dev, serve is ready to try on one machine: a secrets key is generated
in the data directory, the SQLite database lives there too, a demo tenant
with an admin user and a demo relying app are created, and the demo app is
started on demo.listen. The address to sign in at is printed.`,
		Example: `  portcullis serve --dev
  PORTCULLIS_SECRETS_KEY=$(cat /run/secrets/portcullis-key) portcullis serve --issuer https://id.example.com --db postgres://…`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig(cmd)
			if err != nil {
				return err
			}
			return c.serve(cmd.Context(), cfg)
		},
	}
}

// started is what serve reports once it answers requests.
type started struct {
	Addr        string // where the provider listens
	MetricsAddr string // where /metrics is served; empty without metrics.listen
	DemoURL     string // base URL of the demo app; empty without dev
	DemoSeed    devSeed
}

// hashingFloorMiB is the least soft memory limit that leaves room for
// concurrency argon2id hashes at once (0: one per CPU) beside a small
// base for everything else.
func hashingFloorMiB(concurrency int) int {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	const baseMiB = 32
	return baseMiB + concurrency*int(secrets.DefaultArgon2.MemoryKiB/1024)
}

// serve runs the provider (and with dev the demo app) until ctx ends or a
// termination signal arrives. Shutdown runs in the reverse order of
// start: stop accepting and finish requests in flight, stop the background
// work, close the database.
func (c *cli) serve(ctx context.Context, cfg config.Config) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(c.stderr, cfg.Log)
	if _, set := c.lookupEnv("GOMEMLIMIT"); !set && cfg.MemoryLimitMiB > 0 {
		// A soft limit: with argon2id's 19 MiB per hash, the garbage
		// collector otherwise lets the heap grow to twice what is live.
		// Never below what the hashes allowed at once hold, or it would
		// collect without pause during a rush of sign-ins.
		limit := max(cfg.MemoryLimitMiB, hashingFloorMiB(cfg.PasswordHashing.Concurrency))
		if limit > cfg.MemoryLimitMiB {
			log.Info("memory_limit_mib raised to what concurrent password hashes need", "configured_mib", cfg.MemoryLimitMiB, "mib", limit)
		}
		debug.SetMemoryLimit(int64(limit) << 20)
	}
	serving := false
	defer func() {
		if err != nil && !serving && ctx.Err() != nil {
			// A signal at any stage of start-up (waiting for the
			// database, migrating, loading keys) stops it at once.
			log.Info("interrupted while starting", "err", err)
			err = nil // stopped on request, not failed
		}
	}()

	if cfg.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
	}
	key, err := masterKey(&cfg)
	if err != nil {
		return err
	}

	cipher, err := secrets.AtRestCipher(key)
	if err != nil {
		return err
	}
	// The database first, under db.connect_timeout; the port is bound
	// only once the store and the keys are ready, so a load balancer never
	// sends requests to a replica that cannot answer them.
	log.Info("connecting to the database", "at", dbWhere(cfg), "timeout", cfg.DB.ConnectTimeout.String())
	st, applied, err := openStore(ctx, cfg, cipher)
	if err != nil {
		return err
	}
	defer func() { // last: after the servers and the background work stopped
		if err := st.Close(); err != nil {
			log.Warn("closing the database failed", "err", err)
		}
	}()
	driver, _ := cfg.DBDriverAndDSN()
	if len(applied) > 0 {
		log.Info("database schema migrated", "driver", driver, "applied", applied)
	} else {
		log.Info("database schema is up to date", "driver", driver)
	}

	tpl, err := templates.Load()
	if err != nil {
		return err
	}
	rates := throttle.DefaultRates.Scaled(cfg.RateLimits.Factor)
	var m *metrics.Metrics
	if cfg.Metrics.Listen != "" {
		m = metrics.New()
	}
	srv, err := idp.New(ctx, idp.Options{
		Metrics:              m,
		Store:                st,
		Templates:            tpl,
		Logger:               log,
		Issuer:               cfg.Issuer,
		MasterKey:            key,
		SigningAlg:           cfg.Signing.Alg,
		RSABits:              cfg.Signing.RSABits,
		AccessTokenLifespan:  cfg.Tokens.AccessTokenLifespan.Std(),
		RefreshTokenLifespan: cfg.Tokens.RefreshTokenLifespan.Std(),
		AuthCodeLifespan:     cfg.Tokens.AuthCodeLifespan.Std(),
		IDTokenLifespan:      cfg.Tokens.IDTokenLifespan.Std(),
		SessionAbsolute:      cfg.Sessions.Absolute.Std(),
		SessionIdle:          cfg.Sessions.Idle.Std(),
		TrustedProxies:       cfg.TrustedProxies,
		TrustedProxyHeader:   cfg.TrustedProxyHeader,
		HashingSlots:         cfg.PasswordHashing.Concurrency,
		HashingQueue:         cfg.PasswordHashing.Queue,
		Rates:                &rates,
	})
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w (choose another address with --listen)", err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.Metrics.Listen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics: listen: %w (choose another address with metrics.listen)", err)
		}
		defer metricsLn.Close()
	}
	var demoLn net.Listener
	if cfg.Dev {
		if demoLn, err = net.Listen("tcp", cfg.Demo.Listen); err != nil {
			return fmt.Errorf("demo app: listen: %w (choose another address with PORTCULLIS_DEMO_LISTEN)", err)
		}
		defer demoLn.Close()
	}
	warnIfIssuerElsewhere(log, cfg.Issuer, ln.Addr())

	// Background work outlives the signal until the servers have drained.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() { srv.Run(runCtx) })
	defer func() {
		cancelRun()
		background.Wait()
	}()

	var servers []*http.Server
	defer func() {
		if !shutdown(servers, cfg.ShutdownTimeout.Std(), log) && err == nil {
			// The supervisor must see that requests were lost.
			err = fmt.Errorf("requests still running after shutdown_timeout (%s) were cut off", cfg.ShutdownTimeout)
		}
	}()
	failed := make(chan error, 3)
	serveOn := func(name string, h http.Handler, l net.Listener) {
		hs := newHTTPServer(h, log)
		servers = append(servers, hs)
		go func() {
			if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	serveOn("provider", srv.Handler(), ln)
	log.Info("portcullis listening", "version", version, "addr", ln.Addr().String(), "issuer", cfg.Issuer, "dev", cfg.Dev)

	info := started{Addr: ln.Addr().String()}
	if metricsLn != nil {
		// Its own listener: the public port never answers /metrics.
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		serveOn("metrics", mux, metricsLn)
		info.MetricsAddr = metricsLn.Addr().String()
		log.Info("metrics listening", "addr", info.MetricsAddr, "path", "/metrics")
	}
	if cfg.Dev {
		info.DemoURL = demoBaseURL(cfg.Demo.Listen, demoLn.Addr())
		if info.DemoSeed, err = seedDev(ctx, st, key, cfg.DataDir, info.DemoURL); err != nil {
			return err
		}
		app, err := demo.New(demo.Config{
			Issuer:       cfg.Issuer,
			ClientID:     info.DemoSeed.ClientID,
			ClientSecret: info.DemoSeed.ClientSecret,
			RedirectURL:  info.DemoURL + "/callback",
			Templates:    tpl,
			Logger:       log.With("component", "demo"),
		})
		if err != nil {
			return err
		}
		serveOn("demo app", app, demoLn)
		log.Info("demo app listening", "addr", demoLn.Addr().String(), "url", info.DemoURL)
		printDevBanner(c.stdout, cfg, info)
	}
	if c.serveStarted != nil {
		c.serveStarted(info)
	}

	serving = true
	select {
	case <-ctx.Done():
		stop() // a second signal ends the process at once
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		return nil
	case err := <-failed:
		return err
	}
}

// newHTTPServer wraps h with the timeouts a server facing browsers needs.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// shutdown stops every server from accepting and waits, up to timeout in
// all, for the requests in flight; what is still running then is cut off,
// and shutdown reports false.
func shutdown(servers []*http.Server, timeout time.Duration, log *slog.Logger) (clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	var cut atomic.Bool
	for _, s := range servers {
		wg.Go(func() {
			if err := s.Shutdown(ctx); err != nil {
				log.Error("requests still running at the shutdown timeout were cut off", "err", err)
				cut.Store(true)
				_ = s.Close()
			}
		})
	}
	wg.Wait()
	if len(servers) > 0 {
		log.Info("HTTP servers stopped")
	}
	return !cut.Load()
}

// newLogger builds the process logger: text or JSON on w, at the
// configured level (Load has validated both).
func newLogger(w io.Writer, lc config.LogConfig) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lc.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// demoBaseURL is the URL browsers reach the demo app at: the configured
// host (127.0.0.1 when it listens on every interface) and the port it got.
func demoBaseURL(listen string, addr net.Addr) string {
	host, _, _ := net.SplitHostPort(listen)
	_, port, _ := net.SplitHostPort(addr.String())
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// warnIfIssuerElsewhere warns when a loopback http issuer names another
// port than the one the server got, the usual result of changing --listen
// without --issuer: relying apps would then talk to whatever listens there.
func warnIfIssuerElsewhere(log *slog.Logger, issuer string, addr net.Addr) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "http" || !config.IsLoopbackHost(u.Hostname()) {
		return
	}
	_, port, _ := net.SplitHostPort(addr.String())
	issuerPort := u.Port()
	if issuerPort == "" {
		issuerPort = "80"
	}
	if issuerPort != port {
		log.Warn("the issuer names another port than the server listens on; set --issuer to match unless a proxy forwards it",
			"issuer", issuer, "listen_port", port)
	}
}

// printDevBanner tells the developer where to sign in, and as whom.
func printDevBanner(w io.Writer, cfg config.Config, info started) {
	seed := info.DemoSeed
	password := seed.AdminPassword
	switch {
	case seed.AdminPasswordChanged:
		password = "(changed since it was generated; the one in " + seed.AdminPasswordFile + " no longer works)"
	case password == "":
		password = "(unknown)"
	case seed.AdminPasswordNew:
		password += "   (new; also saved in " + seed.AdminPasswordFile + ")"
	default:
		password += "   (from " + seed.AdminPasswordFile + ")"
	}
	fmt.Fprintf(w, `
Portcullis is running in development mode; do not use it in production.

  Sign in at   %s/   (the demo app)
  Email        %s
  Password     %s
  Issuer       %s
  Your account %s/account
  Admin        %s/admin

Stop with Ctrl+C.

`, info.DemoURL, seed.AdminEmail, password, cfg.Issuer, cfg.Issuer, cfg.Issuer)
}
