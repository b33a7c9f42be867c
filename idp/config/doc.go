// Package config loads, checks and explains the configuration of a
// Portcullis server. It imports nothing else from Portcullis; cmd/portcullis
// calls it once at start and hands the resulting Config to the rest.
//
// # Sources and precedence
//
// Load reads, each over the previous one:
//
//  1. Default(), the only place a default value is written;
//  2. the YAML file given with --config (LoadOptions.File), decoded strictly:
//     an unknown key (with the nearest known key: "did you mean
//     \"sessions.idle\"?"), a duplicate key or a value of the wrong type is
//     an error naming its line;
//  3. the environment (PORTCULLIS_*; an empty variable counts as unset). A
//     PORTCULLIS_* variable that names no setting is an error too, with the
//     nearest name, since a misspelt one would be ignored silently; only
//     PORTCULLIS_CONFIG and the PORTCULLIS_TEST_* and PORTCULLIS_LOAD_*
//     variables of the tests and the load tool are let through;
//  4. the flags of RegisterFlags that the user actually set.
//
// Then the defaults that depend on other settings are derived, unless some
// source set them: log.format is "text" when dev is on, else "json";
// db.max_idle_conns equals db.max_open_conns; and sessions.idle is
// min(24h, sessions.absolute), so that setting sessions.absolute alone
// (say to 8h) works. The issuer loses any trailing slash. ResolveSecrets
// reads the *_file settings and Validate checks the lot.
//
// Every problem, decoding and validation alike, is reported in one error
// (ValidationErrors), each on its own line as "field: problem", so that an
// operator fixes them all in one pass; a value that did not parse is not
// validated again. When two settings conflict (sessions.idle above
// sessions.absolute) the message gives each value and where it came from:
// the file and line, the environment variable, the flag, or the default.
//
// A value and its *_file variant exclude each other within one source; a
// higher source setting either one replaces both below it (so
// PORTCULLIS_DB_FILE overrides db.dsn from the file).
//
// # Settings
//
// The environment variable of a YAML key is PORTCULLIS_ and the key in upper
// case with dots as underscores, except that the "tokens." section is
// dropped (its keys already end in _LIFESPAN), "sessions." reads "SESSION_"
// and db.dsn is PORTCULLIS_DB.
//
//	YAML key                       environment variable                flag         default
//	issuer                         PORTCULLIS_ISSUER                   --issuer     http://127.0.0.1:8080
//	listen                         PORTCULLIS_LISTEN                   --listen     127.0.0.1:8080
//	data_dir                       PORTCULLIS_DATA_DIR                 --data-dir   ./data
//	db.dsn                         PORTCULLIS_DB                       --db         sqlite:<data_dir>/portcullis.db
//	db.dsn_file                    PORTCULLIS_DB_FILE
//	db.max_open_conns              PORTCULLIS_DB_MAX_OPEN_CONNS                     20
//	db.max_idle_conns              PORTCULLIS_DB_MAX_IDLE_CONNS                     = db.max_open_conns
//	db.connect_timeout             PORTCULLIS_DB_CONNECT_TIMEOUT                    10s
//	secrets_key                    PORTCULLIS_SECRETS_KEY                           none (see below)
//	secrets_key_file               PORTCULLIS_SECRETS_KEY_FILE
//	dev                            PORTCULLIS_DEV                      --dev        false
//	log.format                     PORTCULLIS_LOG_FORMAT               --log-format json; text with dev
//	log.level                      PORTCULLIS_LOG_LEVEL                --log-level  info
//	signing.alg                    PORTCULLIS_SIGNING_ALG                           RS256 (or ES256)
//	signing.rsa_bits               PORTCULLIS_SIGNING_RSA_BITS                      2048 (or 3072, 4096)
//	tokens.access_token_lifespan   PORTCULLIS_ACCESS_TOKEN_LIFESPAN                 15m
//	tokens.refresh_token_lifespan  PORTCULLIS_REFRESH_TOKEN_LIFESPAN                720h
//	tokens.auth_code_lifespan      PORTCULLIS_AUTH_CODE_LIFESPAN                    1m
//	tokens.id_token_lifespan       PORTCULLIS_ID_TOKEN_LIFESPAN                     1h
//	sessions.absolute              PORTCULLIS_SESSION_ABSOLUTE                      168h
//	sessions.idle                  PORTCULLIS_SESSION_IDLE                          24h, or sessions.absolute if lower
//	demo.listen                    PORTCULLIS_DEMO_LISTEN                           127.0.0.1:8081
//	shutdown_timeout               PORTCULLIS_SHUTDOWN_TIMEOUT                      15s
//	trusted_proxies                PORTCULLIS_TRUSTED_PROXIES                       none (comma-separated CIDRs)
//	trusted_proxy_header           PORTCULLIS_TRUSTED_PROXY_HEADER                  x-forwarded-for (or forwarded)
//	password_hashing.concurrency   PORTCULLIS_PASSWORD_HASHING_CONCURRENCY          0 (one per CPU)
//	password_hashing.queue         PORTCULLIS_PASSWORD_HASHING_QUEUE                64
//	rate_limits.factor             PORTCULLIS_RATE_LIMITS_FACTOR                    1
//	metrics.listen                 PORTCULLIS_METRICS_LISTEN                        none (off)
//	memory_limit_mib               PORTCULLIS_MEMORY_LIMIT_MIB                      64, at least 32 + 19 per concurrent hash (0: none; GOMEMLIMIT wins)
//
// Durations are Go duration strings ("15m", "1h30m"); booleans are true or
// false (also 1/0, t/f). The database is "sqlite:PATH" or a postgres:// URL.
//
// # Secrets
//
// The master secrets key encrypts TOTP secrets and private signing keys at
// rest. It is 32 random bytes in base64, as `openssl rand -base64 32`
// prints. Load does not require it; MasterKey returns ErrNoSecretsKey, whose
// message says how to make one, when a command needs it and none is set.
// Under --dev, cmd/portcullis calls EnsureDevSecretsKey(cfg.DataDir, nil) to
// create or reuse <data_dir>/secrets.key instead.
//
// Log a Config only through Redacted, which hides the key and the database
// password.
//
// # Typical use
//
//	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
//	configFile := fs.String("config", "", "YAML configuration file")
//	config.RegisterFlags(fs)
//	_ = fs.Parse(args)
//	cfg, err := config.Load(config.LoadOptions{File: *configFile, LookupEnv: os.LookupEnv, Flags: fs})
//	if err != nil { … print err, exit 2 … }
//	driver, dsn := cfg.DBDriverAndDSN()
//	key, err := cfg.MasterKey()
package config
