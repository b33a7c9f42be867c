// Command portcullis runs and administers a Portcullis OpenID provider.
//
//	portcullis serve [--dev]              run the provider (and, with --dev, a demo app)
//	portcullis migrate                    bring the database schema up to date
//	portcullis tenant create|list         manage tenants
//	portcullis tenant require-tfa         turn the tenant's Require TFA policy on or off
//	portcullis tenant set-sessions        override session lifetimes for a tenant
//	portcullis tenant second-factors      allow any second factor, apps only, or passkeys only
//	portcullis tenant enrollment-deadline let users put off enrollment until a date
//	portcullis tenant passwordless        let users sign in with a passkey alone
//	portcullis user create|list           manage users of a tenant
//	portcullis user reset-mfa             remove a user's authenticator and recovery key
//	portcullis sessions revoke            end a user's or a tenant's sessions
//	portcullis client create|list|delete  manage relying apps
//	portcullis keys rotate                start signing with a new key
//	portcullis version                    print the version
//
// Every command reads the same configuration (see package idp/config): a
// YAML file given with --config, PORTCULLIS_* environment variables and the
// common flags, in rising precedence. Only migrate and serve create the
// database and bring its schema up to date; the other commands refuse a
// missing or unmigrated database.
//
// The composition is: main builds a cli (streams, environment), newRootCmd
// builds the cobra tree on it, and each command is one file that loads the
// configuration, opens what it needs and calls into idp and idp/store.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/portcullis-idp/portcullis/idp/config"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	c := &cli{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		lookupEnv: os.LookupEnv,
		environ:   os.Environ,
	}
	os.Exit(c.run(context.Background(), os.Args[1:]))
}

// cli is what every command shares: the standard streams and the
// environment, injected so that tests run the real command tree in process.
type cli struct {
	stdin     io.Reader
	stdout    io.Writer // results: tables, ids, secrets
	stderr    io.Writer // logs and notes
	lookupEnv func(key string) (string, bool)
	environ   func() []string // the whole environment, to find misspelt PORTCULLIS_* variables

	// serveStarted, when set, is called by serve once it answers requests
	// (tests use it to find the addresses of servers started on port 0).
	serveStarted func(started)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad flags, arguments or configuration
)

// usageError marks an error in what the user typed or configured, as
// opposed to one met while running.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run executes one command line and returns the process exit code. Errors
// are printed here, once, so that commands only return them.
func (c *cli) run(ctx context.Context, args []string) int {
	root := newRootCmd(c)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var problems config.ValidationErrors
	switch {
	case errors.As(err, &problems):
		fmt.Fprintf(c.stderr, "portcullis: invalid configuration (%d %s):\n", len(problems), plural(len(problems), "problem", "problems"))
		for _, p := range problems {
			fmt.Fprintf(c.stderr, "  %s\n", p)
		}
	default:
		msg := err.Error()
		if strings.Contains(msg, "\n") { // e.g. several decoding problems joined
			msg = "\n  " + strings.ReplaceAll(msg, "\n", "\n  ")
		}
		fmt.Fprintf(c.stderr, "portcullis: %s\n", msg)
	}
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitFailure
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
