package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portcullis-idp/portcullis/idp/config"
	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// newRootCmd builds the whole command tree on c.
func newRootCmd(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "portcullis",
		Short: "Portcullis, an OpenID Connect provider with two-factor sign-in by default",
		Long: `Portcullis is an OpenID Connect provider with two-factor sign-in by default.

Try it with:  portcullis serve --dev

Configuration comes from, in rising precedence: built-in defaults, the YAML
file given with --config (or PORTCULLIS_CONFIG), PORTCULLIS_* environment
variables, and the flags below.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
	}
	root.SetVersionTemplate("portcullis {{.Version}}\n")
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	root.CompletionOptions.DisableDefaultCmd = true

	pf := root.PersistentFlags()
	pf.String("config", "", "YAML configuration file (default $PORTCULLIS_CONFIG)")
	config.RegisterFlags(pf)

	root.SuggestionsMinimumDistance = 2
	root.AddCommand(
		newServeCmd(c),
		newMigrateCmd(c),
		newTenantCmd(c),
		newUserCmd(c),
		newClientCmd(c),
		newSessionsCmd(c),
		newKeysCmd(c),
		newVersionCmd(c),
	)
	plainBoolFlags(root)
	return root
}

// plainBool is a boolean flag value that pflag's help prints as a plain
// flag ("--dev"), not "--dev[=true|false]": pflag adds that to every value
// that says IsBoolFlag, and this one does not say it. The flag still takes
// no argument (its NoOptDefVal is "true") and still accepts --dev=false.
type plainBool struct{ pflag.Value }

// plainBoolFlags makes every boolean flag of cmd and its subcommands, the
// --help and --version flags cobra adds included, a plainBool.
func plainBoolFlags(cmd *cobra.Command) {
	cmd.InitDefaultHelpFlag()
	cmd.InitDefaultVersionFlag()
	wrap := func(f *pflag.Flag) {
		if _, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && f.Value.Type() == "bool" {
			f.Value = plainBool{f.Value}
		}
	}
	cmd.Flags().VisitAll(wrap)
	cmd.PersistentFlags().VisitAll(wrap)
	for _, sub := range cmd.Commands() {
		plainBoolFlags(sub)
	}
}

// group returns a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: groupRun}
	cmd.AddCommand(subs...)
	return cmd
}

// groupRun runs a command that has subcommands but was given none: help,
// or an error for a word that names no subcommand.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command %q for %q%s (see '%s --help')", args[0], cmd.CommandPath(), didYouMean(cmd, args[0]), cmd.CommandPath())}
	}
	return cmd.Help()
}

// didYouMean names the subcommands of cmd nearest to typed (cobra's
// suggestions: within two edits, or starting with it), or is empty.
func didYouMean(cmd *cobra.Command, typed string) string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	names := cmd.SuggestionsFor(typed)
	if len(names) == 0 {
		return ""
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return "; did you mean " + strings.Join(quoted, " or ") + "?"
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
		return nil
	}
}

// loadConfig reads the configuration for cmd: defaults, the --config file,
// the environment and the flags the user set. Problems come back together,
// as a usage error.
func (c *cli) loadConfig(cmd *cobra.Command) (config.Config, error) {
	file, err := cmd.Flags().GetString("config")
	if err != nil {
		return config.Config{}, err
	}
	if file == "" {
		file, _ = c.lookupEnv("PORTCULLIS_CONFIG")
	}
	cfg, err := config.Load(config.LoadOptions{File: file, LookupEnv: c.lookupEnv, Environ: c.environ, Flags: cmd.Flags()})
	if err != nil {
		return config.Config{}, usageError{err}
	}
	return cfg, nil
}

// masterKey returns the secrets key. With dev and no key configured, it
// uses (creating it on first use) the key file in the data directory, and
// records it in cfg. Without either, the error says how to make a key.
func masterKey(cfg *config.Config) ([]byte, error) {
	if cfg.Dev && cfg.SecretsKey == "" {
		key, err := config.EnsureDevSecretsKey(cfg.DataDir, nil)
		if err != nil {
			return nil, err
		}
		cfg.SecretsKey = key
	}
	key, err := cfg.MasterKey()
	if errors.Is(err, config.ErrNoSecretsKey) {
		return nil, usageError{err}
	}
	return key, err
}

// openStore opens the configured database and brings its schema up to
// date, returning the migration versions it applied. For SQLite the
// directory of the file is created (0700) if needed. cipher seals the
// secrets the store keeps (store.Config.Cipher); the administration
// commands, which read and write none, pass nil.
func openStore(ctx context.Context, cfg config.Config, cipher *secrets.Cipher) (*store.Store, []int64, error) {
	driver, dsn := cfg.DBDriverAndDSN()
	if driver == config.DriverSQLite {
		path, _, _ := strings.Cut(dsn, "?")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	st, err := store.Open(store.Config{
		Driver:       driver,
		DSN:          dsn,
		MaxOpenConns: cfg.DB.MaxOpenConns,
		MaxIdleConns: cfg.DB.MaxIdleConns,
		Cipher:       cipher,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := connect(ctx, st, cfg); err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		_ = st.Close()
		return nil, nil, fmt.Errorf("migrate database: %w", err)
	}
	return st, applied, nil
}

// connect waits for the database's first answer, up to db.connect_timeout
// (or until ctx ends: a signal). A database that accepts connections and
// never answers is an error after the timeout, not a hang.
func connect(ctx context.Context, st *store.Store, cfg config.Config) error {
	timeout := cfg.DB.ConnectTimeout.Std()
	if timeout <= 0 {
		timeout = config.Default().DB.ConnectTimeout.Std()
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := st.Ping(pctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // interrupted
	case pctx.Err() != nil:
		return fmt.Errorf("the database did not answer within %s (db.connect_timeout): check that it runs and that %s reaches it",
			timeout, dbWhere(cfg))
	}
	return fmt.Errorf("cannot reach the database at %s: %w", dbWhere(cfg), err)
}

// dbWhere names the database for a message: the host and port of a
// postgres URL (never its password), or the SQLite path.
func dbWhere(cfg config.Config) string {
	driver, dsn := cfg.DBDriverAndDSN()
	if driver == config.DriverSQLite {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		return u.Host
	}
	return "db.dsn"
}

// openAdminStore loads the configuration and opens the store for an
// administration command: an existing, migrated database only.
func (c *cli) openAdminStore(cmd *cobra.Command) (*store.Store, config.Config, error) {
	cfg, err := c.loadConfig(cmd)
	if err != nil {
		return nil, cfg, err
	}
	st, err := openExistingStore(cmd.Context(), cfg)
	return st, cfg, err
}

// openExistingStore opens the configured database for the administration
// commands, which never create or migrate one: only migrate and serve do.
// A missing SQLite file (nothing is created, not even its directory), a
// database without the schema, or one whose schema is behind or ahead of
// this binary is an error that says what to run.
func openExistingStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	driver, dsn := cfg.DBDriverAndDSN()
	if driver == config.DriverSQLite {
		path, _, _ := strings.Cut(dsn, "?")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: run 'portcullis migrate' (or 'portcullis serve') to create it, or point --db or PORTCULLIS_DB at an existing one", path)
		} else if err != nil {
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	st, err := store.Open(store.Config{
		Driver:       driver,
		DSN:          dsn,
		MaxOpenConns: cfg.DB.MaxOpenConns,
		MaxIdleConns: cfg.DB.MaxIdleConns,
	})
	if err != nil {
		return nil, err
	}
	if err := connect(ctx, st, cfg); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := st.CheckSchema(ctx); err != nil {
		_ = st.Close()
		switch {
		case errors.Is(err, store.ErrNoSchema):
			return nil, fmt.Errorf("the database at %s is not migrated: run 'portcullis migrate' (or 'portcullis serve') first", dbWhere(cfg))
		case errors.Is(err, store.ErrSchemaBehind):
			return nil, fmt.Errorf("the database schema at %s is older than this binary: run 'portcullis migrate' first", dbWhere(cfg))
		}
		return nil, fmt.Errorf("database at %s: %w", dbWhere(cfg), err)
	}
	return st, nil
}

// tenantStore is openTenantStore for a tenant command after its checks:
// the command line's problems (a missing --slug among them) are reported
// together, and only then is the store opened.
func (c *cli) tenantStore(cmd *cobra.Command, slug string, problems []string) (*store.Store, *store.Tenant, error) {
	if slug == "" {
		problems = append([]string{"--slug is required"}, problems...)
	}
	if err := problemsError(problems); err != nil {
		return nil, nil, err
	}
	st, t, _, err := c.openTenantStore(cmd, slug)
	return st, t, err
}

// openTenantStore is openAdminStore for a command about one tenant: it
// also finds the tenant slug names, and closes the store again when it
// cannot.
func (c *cli) openTenantStore(cmd *cobra.Command, slug string) (*store.Store, *store.Tenant, config.Config, error) {
	st, cfg, err := c.openAdminStore(cmd)
	if err != nil {
		return nil, nil, cfg, err
	}
	t, err := tenantBySlug(cmd.Context(), st, slug)
	if err != nil {
		_ = st.Close()
		return nil, nil, cfg, err
	}
	return st, t, cfg, nil
}

// tenantBySlug finds a tenant, with an error that names the slug.
func tenantBySlug(ctx context.Context, st *store.Store, slug string) (*store.Tenant, error) {
	t, err := st.TenantBySlug(ctx, slug)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no tenant %q (see 'portcullis tenant list')", slug)
	}
	return t, err
}
