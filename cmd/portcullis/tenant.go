package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-idp/portcullis/idp/store"
)

func newTenantCmd(c *cli) *cobra.Command {
	return group("tenant", "Manage tenants (customer accounts)",
		newTenantCreateCmd(c),
		newTenantListCmd(c),
		newTenantRequireTFACmd(c),
		newTenantSetSessionsCmd(c),
		newTenantSecondFactorsCmd(c),
		newTenantEnrollmentDeadlineCmd(c),
		newTenantPasswordlessCmd(c),
	)
}

// slugPattern is what a tenant slug looks like: it appears in URLs and
// commands, so lower-case letters, digits and inner hyphens only.
var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func newTenantCreateCmd(c *cli) *cobra.Command {
	var slug, name string
	var requireTFA bool
	cmd := &cobra.Command{
		Use:   "create --slug SLUG --name NAME",
		Short: "Create a tenant",
		Long: `Create a tenant. Its users must set up two-factor sign-in unless
--require-tfa=false is given.`,
		Example: `  portcullis tenant create --slug acme --name "Acme Corp"`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []string
			if slug == "" {
				problems = append(problems, "--slug is required")
			} else if !slugPattern.MatchString(slug) {
				problems = append(problems, fmt.Sprintf("--slug %q: use 1 to 63 lower-case letters, digits and inner hyphens, e.g. acme-corp", slug))
			}
			name = strings.TrimSpace(name)
			if name == "" {
				problems = append(problems, "--name is required")
			}
			if err := problemsError(problems); err != nil {
				return err
			}
			st, _, err := c.openAdminStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()

			t := &store.Tenant{Slug: slug, Name: name, RequireTFA: requireTFA}
			if err := st.CreateTenant(cmd.Context(), t); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("tenant %q already exists", slug)
				}
				return err
			}
			fmt.Fprintf(c.stdout, "created tenant %s (%s), id %s, require TFA: %t\n", t.Slug, t.Name, t.ID, t.RequireTFA)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "slug", "", "short name used in URLs and commands (required)")
	f.StringVar(&name, "name", "", "display name (required)")
	f.BoolVar(&requireTFA, "require-tfa", true, "require two-factor sign-in for every user of the tenant (--require-tfa=false: do not)")
	return cmd
}

func newTenantListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Long: `List tenants with their Require TFA policy and session lifetimes
("default" where the tenant uses the deployment's sessions.absolute and
sessions.idle).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := c.openAdminStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			tenants, err := st.ListTenants(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SLUG\tNAME\tREQUIRE_TFA\tSECOND_FACTORS\tENROLLMENT_DEADLINE\tSESSION_ABSOLUTE\tSESSION_IDLE")
			for _, t := range tenants {
				deadline := "-"
				if t.EnrollmentDeadline != nil {
					deadline = t.EnrollmentDeadline.UTC().Format(time.DateOnly)
				}
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\t%s\n", t.Slug, t.Name, t.RequireTFA, t.SecondFactors, deadline,
					lifetime(t.SessionAbsoluteSeconds), lifetime(t.SessionIdleSeconds))
			}
			return tw.Flush()
		},
	}
}

func newTenantRequireTFACmd(c *cli) *cobra.Command {
	var slug string
	var on, off, clearSessions bool
	cmd := &cobra.Command{
		Use:   "require-tfa --slug SLUG --on|--off [--clear-sessions]",
		Short: "Turn a tenant's Require TFA policy on or off",
		Long: `Turn a tenant's Require TFA policy on or off.

With --on every user of the tenant must set up two-factor sign-in; those
without an authenticator are sent to set one up at their next sign-in.
By default their sessions stay signed in until they end normally; with
--clear-sessions every session of the tenant ends now, its refresh tokens
are revoked and relying apps are sent a back-channel logout, so everyone
signs in (and enrolls) again.

The change, the sessions it ends and an audit event are one transaction.`,
		Example: `  portcullis tenant require-tfa --slug acme --on --clear-sessions
  portcullis tenant require-tfa --slug acme --off`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []string
			switch {
			case on && off:
				problems = append(problems, "give either --on or --off, not both")
			case !on && !off:
				problems = append(problems, "give --on or --off")
			case off && clearSessions:
				problems = append(problems, "--clear-sessions goes with --on only (turning the policy off ends no session)")
			}
			st, t, err := c.tenantStore(cmd, slug, problems)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			ended, err := st.SetRequireTFA(ctx, t.ID, on, clearSessions, "", cliActor)
			if err != nil {
				return err
			}
			switch {
			case off:
				fmt.Fprintf(c.stdout, "tenant %s: require TFA is off; sessions ended: 0\n", t.Slug)
			case clearSessions:
				fmt.Fprintf(c.stdout, "tenant %s: require TFA is on; sessions ended: %d (their tokens revoked; users enroll at their next sign-in)\n", t.Slug, len(ended))
			default:
				fmt.Fprintf(c.stdout, "tenant %s: require TFA is on; sessions ended: 0 (sessions stay signed in; users enroll at their next sign-in)\n", t.Slug)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "slug", "", "slug of the tenant (required)")
	f.BoolVar(&on, "on", false, "require two-factor sign-in for every user of the tenant")
	f.BoolVar(&off, "off", false, "let users of the tenant sign in without a second factor")
	f.BoolVar(&clearSessions, "clear-sessions", false, "with --on: end every session of the tenant now")
	return cmd
}

func newTenantSetSessionsCmd(c *cli) *cobra.Command {
	var slug string
	var absolute, idle time.Duration
	cmd := &cobra.Command{
		Use:   "set-sessions --slug SLUG [--absolute DURATION] [--idle DURATION]",
		Short: "Set how long the sessions of a tenant last",
		Long: `Set how long the browser sessions of a tenant's users last, overriding the
deployment's sessions.absolute and sessions.idle. --absolute ends a session
that long after sign-in; --idle ends it after that long without activity.
0 returns to the deployment's setting; a flag not given keeps the tenant's
current value. Durations are whole seconds, such as 12h, 30m or 1h30m, at
most 366 days, and the idle limit must not exceed the absolute lifetime.

The new lifetimes apply to sessions started from now on.`,
		Example: `  portcullis tenant set-sessions --slug acme --absolute 12h --idle 30m
  portcullis tenant set-sessions --slug acme --absolute 0 --idle 0`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := cmd.Flags()
			setAbsolute, setIdle := flags.Changed("absolute"), flags.Changed("idle")
			var problems []string
			if slug == "" {
				problems = append(problems, "--slug is required")
			}
			if !setAbsolute && !setIdle {
				problems = append(problems, "give --absolute, --idle or both")
			}
			for _, d := range []struct {
				flag  string
				set   bool
				value time.Duration
			}{{"--absolute", setAbsolute, absolute}, {"--idle", setIdle, idle}} {
				if problem := store.SessionLifetimeProblem(d.value); d.set && problem != "" {
					problems = append(problems, fmt.Sprintf("%s %s: %s", d.flag, d.value, problem))
				}
			}
			if setAbsolute && setIdle && absolute > 0 && idle > absolute {
				problems = append(problems, fmt.Sprintf("--idle %s must not exceed --absolute %s", idle, absolute))
			}
			if err := problemsError(problems); err != nil {
				return err
			}
			st, t, cfg, err := c.openTenantStore(cmd, slug)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if !setAbsolute {
				absolute = time.Duration(t.SessionAbsoluteSeconds) * time.Second
			}
			if !setIdle {
				idle = time.Duration(t.SessionIdleSeconds) * time.Second
			}
			if absolute > 0 && idle > absolute {
				return usageError{fmt.Errorf("the idle limit %s would exceed the absolute lifetime %s of tenant %s; give both", fmtDuration(idle), fmtDuration(absolute), t.Slug)}
			}
			if err := st.SetTenantSessionLifetimes(ctx, t.ID, absolute, idle, cliActor); err != nil {
				if errors.Is(err, store.ErrInvalidArgument) {
					return usageError{err}
				}
				return err
			}
			fmt.Fprintf(c.stdout, "tenant %s: absolute session lifetime %s, idle limit %s\n", t.Slug,
				describeLifetime(absolute), describeLifetime(idle))
			effAbs, effIdle := absolute, idle
			if effAbs == 0 {
				effAbs = cfg.Sessions.Absolute.Std()
			}
			if effIdle == 0 {
				effIdle = cfg.Sessions.Idle.Std()
			}
			if effAbs > 0 && effIdle > effAbs {
				fmt.Fprintf(c.stderr, "portcullis: note: the idle limit (%s) exceeds the absolute lifetime (%s), so sessions end after %s whatever the activity.\n",
					fmtDuration(effIdle), fmtDuration(effAbs), fmtDuration(effAbs))
			}
			fmt.Fprintln(c.stderr, "portcullis: the new lifetimes apply to sessions started from now on.")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "slug", "", "slug of the tenant (required)")
	f.DurationVar(&absolute, "absolute", 0, "end sessions this long after sign-in (0: the deployment's sessions.absolute)")
	f.DurationVar(&idle, "idle", 0, "end sessions unused for this long (0: the deployment's sessions.idle)")
	return cmd
}

// cliActor is who the audit log names for changes made with this command.
var cliActor = store.Actor{Via: "cli"}

// lifetime is a tenant's session lifetime column for tables.
func lifetime(seconds int) string {
	if seconds == 0 {
		return "default"
	}
	return fmtDuration(time.Duration(seconds) * time.Second)
}

// describeLifetime is lifetime for sentences.
func describeLifetime(d time.Duration) string {
	if d == 0 {
		return "the deployment's default"
	}
	return fmtDuration(d)
}

// fmtDuration prints d without zero minutes and seconds: 12h, 1h30m, 45s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// problemsError turns a list of problems with the command line into one
// usage error, one problem a line, or nil.
func problemsError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return usageError{errors.New(strings.Join(problems, "\n"))}
}

func newTenantSecondFactorsCmd(c *cli) *cobra.Command {
	var slug, allow string
	var clearSessions bool
	cmd := &cobra.Command{
		Use:   "second-factors --slug SLUG --allow any|totp|webauthn [--clear-sessions]",
		Short: "Choose which second factors a tenant's users may use",
		Long: `Choose which second factors a tenant's users may set up and use.

  any       an authenticator app (TOTP) or a passkey / security key (default)
  totp      authenticator apps only
  webauthn  passkeys and security keys only: phishing-resistant sign-in
            is required, and a user with only an app sets up a passkey at
            the next sign-in

With --allow webauthn, sessions that did not pass a passkey stay signed in
until they end normally; with --clear-sessions they end now (tokens
revoked, relying apps told by back-channel logout).

The change, the sessions it ends and an audit event are one transaction.`,
		Example: `  portcullis tenant second-factors --slug acme --allow webauthn --clear-sessions
  portcullis tenant second-factors --slug acme --allow any`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []string
			switch allow {
			case store.FactorsAny, store.FactorTOTP, store.FactorWebAuthn:
			case "":
				problems = append(problems, "--allow is required: any, totp or webauthn")
			default:
				problems = append(problems, fmt.Sprintf("--allow %q: want any, totp or webauthn", allow))
			}
			if clearSessions && allow != store.FactorWebAuthn {
				problems = append(problems, "--clear-sessions goes with --allow webauthn only")
			}
			st, t, err := c.tenantStore(cmd, slug, problems)
			if err != nil {
				return err
			}
			defer st.Close()
			ended, err := st.SetSecondFactors(cmd.Context(), t.ID, allow, clearSessions, "", cliActor)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "tenant %s: second factors allowed: %s; sessions ended: %d\n", t.Slug, allow, len(ended))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "slug", "", "slug of the tenant (required)")
	f.StringVar(&allow, "allow", "", "any, totp or webauthn (required)")
	f.BoolVar(&clearSessions, "clear-sessions", false, "with --allow webauthn: end now every session that did not pass a passkey")
	return cmd
}

func newTenantEnrollmentDeadlineCmd(c *cli) *cobra.Command {
	var slug, date string
	var none bool
	cmd := &cobra.Command{
		Use:   "enrollment-deadline --slug SLUG --date YYYY-MM-DD | --none",
		Short: "Let users put off setting up a second factor until a date",
		Long: `Set the date until which, under Require TFA, users without a second
factor may sign in with their password alone: each sign-in offers "Set up
now" or "Later (N days left)". From the date on (00:00 UTC), setting one up
is forced. --none removes the deadline (enrollment is forced at once).

The change and an audit event are one transaction.`,
		Example: `  portcullis tenant enrollment-deadline --slug acme --date 2027-01-31
  portcullis tenant enrollment-deadline --slug acme --none`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []string
			var deadline *time.Time
			switch {
			case none && date != "":
				problems = append(problems, "give either --date or --none, not both")
			case !none && date == "":
				problems = append(problems, "give --date YYYY-MM-DD or --none")
			case date != "":
				d, err := time.Parse(time.DateOnly, date)
				if err != nil {
					problems = append(problems, fmt.Sprintf("--date %q is not a date like 2027-01-31", date))
				} else {
					deadline = &d
				}
			}
			st, t, err := c.tenantStore(cmd, slug, problems)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.SetEnrollmentDeadline(cmd.Context(), t.ID, deadline, cliActor); err != nil {
				return err
			}
			if deadline == nil {
				fmt.Fprintf(c.stdout, "tenant %s: no enrollment deadline\n", t.Slug)
			} else {
				fmt.Fprintf(c.stdout, "tenant %s: enrollment deadline %s\n", t.Slug, deadline.Format(time.DateOnly))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "slug", "", "slug of the tenant (required)")
	f.StringVar(&date, "date", "", "the day enrollment becomes forced (YYYY-MM-DD, UTC)")
	f.BoolVar(&none, "none", false, "remove the deadline")
	return cmd
}

func newTenantPasswordlessCmd(c *cli) *cobra.Command {
	var slug string
	var on, off bool
	cmd := &cobra.Command{
		Use:   "passwordless --slug SLUG --on|--off",
		Short: "Let a tenant's users sign in with a passkey alone",
		Long: `Let a tenant's users sign in with a passkey alone, without a password.

With --on the sign-in page offers "Sign in with a passkey" (and the
browser's passkey autofill on the email field). A passkey that verifies its
user (PIN or biometrics) is the whole sign-in: amr ["hwk","user","mfa"],
at the MFA and phishing-resistant levels. Off by default. Passkeys must be
allowed in the tenant (tenant second-factors).`,
		Example: `  portcullis tenant passwordless --slug acme --on`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []string
			if on == off {
				problems = append(problems, "give --on or --off")
			}
			st, t, err := c.tenantStore(cmd, slug, problems)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.SetPasswordless(cmd.Context(), t.ID, on, cliActor); err != nil {
				return err
			}
			state := "off"
			if on {
				state = "on"
			}
			fmt.Fprintf(c.stdout, "tenant %s: passwordless sign-in is %s\n", t.Slug, state)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "slug", "", "slug of the tenant (required)")
	f.BoolVar(&on, "on", false, "offer sign-in with a passkey alone")
	f.BoolVar(&off, "off", false, "always ask for the password first")
	return cmd
}
