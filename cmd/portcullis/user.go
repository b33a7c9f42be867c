package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/store"
)

func newUserCmd(c *cli) *cobra.Command {
	return group("user", "Manage the users of a tenant",
		newUserCreateCmd(c),
		newUserListCmd(c),
		newUserResetMFACmd(c),
		newUserUnlockCmd(c),
		newUserImportCmd(c),
		newUserDisableCmd(c, true),
		newUserDisableCmd(c, false),
		newUserDeleteCmd(c),
		newUserResetPasswordCmd(c),
	)
}

// newUserDisableCmd is 'user disable' (disable true) or 'user enable'.
func newUserDisableCmd(c *cli, disable bool) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:     "enable --email EMAIL",
		Short:   "Let a disabled user sign in again",
		Long:    `Let a disabled user sign in again. Audited (user.enabled).`,
		Example: `  portcullis user enable --email ada@acme.test`,
	}
	if disable {
		cmd.Use, cmd.Short, cmd.Example = "disable --email EMAIL", "Stop a user from signing in and end their sessions",
			`  portcullis user disable --email ada@acme.test`
		cmd.Long = `Stop a user from signing in: every session of theirs ends (tokens revoked,
relying apps sent a back-channel logout) and an unused set-password link
stops working. Their sign-in is answered as a wrong password would be.
'portcullis user enable' undoes it. Audited (user.disabled).`
	}
	cmd.Args = exactArgs(0)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return c.onUser(cmd, email, func(ctx context.Context, st *store.Store, u *store.User) error {
			ended, err := st.SetUserDisabled(ctx, u.ID, disable, cliActor)
			if err != nil {
				return err
			}
			if disable {
				fmt.Fprintf(c.stdout, "disabled %s; sessions ended: %d\n", u.Email, len(ended))
			} else {
				fmt.Fprintf(c.stdout, "enabled %s\n", u.Email)
			}
			return nil
		})
	}
	cmd.Flags().StringVar(&email, "email", "", "email address of the user (required)")
	return cmd
}

func newUserDeleteCmd(c *cli) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "delete --email EMAIL",
		Short: "Delete a user",
		Long: `Delete a user: every session of theirs ends (tokens revoked, relying apps
sent a back-channel logout), then the user, their authenticator, recovery
key and locks are removed. The audit log keeps their events. Audited
(user.deleted). This cannot be undone.`,
		Example: `  portcullis user delete --email ada@acme.test`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onUser(cmd, email, func(ctx context.Context, st *store.Store, u *store.User) error {
				ended, err := st.DeleteUser(ctx, u.ID, cliActor)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "deleted %s; sessions ended: %d\n", u.Email, len(ended))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email address of the user (required)")
	return cmd
}

func newUserResetPasswordCmd(c *cli) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "reset-password --email EMAIL",
		Short: "Print a one-time link for a user to choose a new password",
		Long: `Print a one-time link (valid 24 hours) for a user to choose a new password.
Their current password works until the link is used; then every session of
theirs ends. An earlier link stops working. Audited
(user.password_reset_link); the link itself is printed once and kept
nowhere.`,
		Example: `  portcullis user reset-password --email ada@acme.test`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := checkEmail(email)
			if err != nil {
				return usageError{err}
			}
			st, cfg, err := c.openAdminStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := userByEmail(cmd.Context(), st, addr)
			if err != nil {
				return err
			}
			link, err := st.IssueResetLink(cmd.Context(), u.ID, store.ResetLinkLifetime, cliActor)
			if errors.Is(err, store.ErrInvalidArgument) {
				return fmt.Errorf("%s is disabled: enable them first ('portcullis user enable --email %s')", u.Email, u.Email)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "one-time link for %s (until %s):\n%s/set-password?token=%s\n",
				u.Email, link.ExpiresAt.UTC().Format(time.RFC3339), strings.TrimSuffix(cfg.Issuer, "/"), link.Token)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email address of the user (required)")
	return cmd
}

func newUserCreateCmd(c *cli) *cobra.Command {
	var tenant, email, name string
	var admin, passwordStdin bool
	cmd := &cobra.Command{
		Use:   "create --tenant SLUG --email EMAIL",
		Short: "Create a user",
		Long: `Create a user in a tenant.

Without --password-stdin a strong password is generated and printed once.
With it, the first line of standard input is the password (at least 12
characters), so that it never appears in the shell history or the process
list.`,
		Example: `  portcullis user create --tenant acme --email ada@acme.test --name "Ada Lovelace" --admin
  printf '%s\n' "$PASSWORD" | portcullis user create --tenant acme --email bob@acme.test --password-stdin`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []string
			if tenant == "" {
				problems = append(problems, "--tenant is required")
			}
			addr, err := checkEmail(email)
			if err != nil {
				problems = append(problems, err.Error())
			}
			if err := problemsError(problems); err != nil {
				return err
			}

			password, generated := "", false
			if passwordStdin {
				if password, err = readPassword(c.stdin); err != nil {
					return usageError{err}
				}
			} else {
				password, generated = secrets.GeneratePassword(), true
			}

			st, t, _, err := c.openTenantStore(cmd, tenant)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			hash, err := secrets.HashPassword(password, secrets.DefaultArgon2)
			if err != nil {
				return err
			}
			u := &store.User{TenantID: t.ID, Email: addr, Name: strings.TrimSpace(name), PasswordHash: hash, Role: store.RoleMember}
			if admin {
				u.Role = store.RoleAdmin
			}
			if err := st.CreateUser(ctx, u); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("a user with email %s already exists", u.Email)
				}
				return err
			}
			fmt.Fprintf(c.stdout, "created user %s (id %s) in tenant %s, role %s\n", u.Email, u.ID, t.Slug, u.Role)
			if generated {
				fmt.Fprintf(c.stdout, "password: %s\n", password)
				fmt.Fprintln(c.stderr, "portcullis: the password is shown only this once; hand it to the user over a safe channel.")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "slug of the user's tenant (required)")
	f.StringVar(&email, "email", "", "email address, used to sign in (required)")
	f.StringVar(&name, "name", "", "display name")
	f.BoolVar(&admin, "admin", false, "make the user an administrator of the tenant")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

// checkEmail returns the bare address in s, or an error if s is not one
// email address (a display name or angle brackets are refused too).
func checkEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("--email is required")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", fmt.Errorf("--email %q is not an email address such as ada@example.com", s)
	}
	return store.NormalizeEmail(addr.Address), nil
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch n := utf8.RuneCountInString(line); {
	case n == 0:
		return "", errors.New("--password-stdin: standard input held no password")
	case n < secrets.MinPasswordLength:
		return "", fmt.Errorf("--password-stdin: the password has %d characters; use at least %d", n, secrets.MinPasswordLength)
	case len(line) > secrets.MaxPasswordLength:
		return "", fmt.Errorf("--password-stdin: the password has %d bytes; the sign-in form takes at most %d", len(line), secrets.MaxPasswordLength)
	}
	return line, nil
}

func newUserListCmd(c *cli) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "list --tenant SLUG",
		Short: "List the users of a tenant",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return usageError{errors.New("--tenant is required")}
			}
			st, t, _, err := c.openTenantStore(cmd, tenant)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			users, err := st.ListUsers(ctx, t.ID)
			if err != nil {
				return err
			}
			mfa, err := st.MFAStatus(ctx, t.ID)
			if err != nil {
				return err
			}
			passwordLocks, err := st.TenantPasswordLocks(ctx, t.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tNAME\tROLE\tSTATUS\t2FA\tLOCKED_UNTIL\tLAST_LOGIN\tID")
			for _, u := range users {
				status, last := "active", "never"
				if u.Disabled {
					status = "disabled"
				}
				if u.LastLoginAt != nil {
					last = u.LastLoginAt.UTC().Format(time.RFC3339)
				}
				tfa, locked := twoFactorColumns(mfa[u.ID], passwordLocks[u.ID])
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, dash(u.Name), u.Role, status, tfa, locked, last, u.ID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "slug of the tenant (required)")
	return cmd
}

// twoFactorColumns gives the 2FA and LOCKED_UNTIL columns of user list.
// 2FA is "active" (a confirmed authenticator), "not-enrolled", or "locked"
// (code entry locked after wrong codes). LOCKED_UNTIL is when the last lock
// of the user ends, code or password (from any address), or "-": what
// 'portcullis user unlock' would clear.
func twoFactorColumns(mfa store.MFAState, passwordLocks []store.SignInCounter) (tfa, lockedUntil string) {
	tfa = "not-enrolled"
	switch {
	case mfa.LockedUntil != nil:
		tfa = "locked"
	case mfa.Active:
		tfa = "active"
	}
	var until time.Time
	if mfa.LockedUntil != nil {
		until = *mfa.LockedUntil
	}
	for _, l := range passwordLocks {
		if l.LockedUntil != nil && l.LockedUntil.After(until) {
			until = *l.LockedUntil
		}
	}
	if until.IsZero() {
		return tfa, "-"
	}
	return tfa, until.UTC().Format(time.RFC3339)
}

func newUserResetMFACmd(c *cli) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "reset-mfa --email EMAIL",
		Short: "Reset a user's two-factor sign-in",
		Long: `Reset a user's two-factor sign-in, for example when their phone is lost
and so is their recovery key: their authenticator, recovery key and failed
attempt count are removed and every session of theirs ends (tokens revoked,
relying apps sent a back-channel logout). They set up an authenticator again
at their next sign-in if their tenant requires it.

The reset, the sessions it ends and an audit event are one transaction.`,
		Example: `  portcullis user reset-mfa --email ada@acme.test`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onUser(cmd, email, func(ctx context.Context, st *store.Store, u *store.User) error {
				ended, err := st.ResetUserMFA(ctx, u.ID, cliActor)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "reset two-factor sign-in of %s; sessions ended: %d\n", u.Email, len(ended))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email address of the user (required)")
	return cmd
}

func newUserUnlockCmd(c *cli) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "unlock --email EMAIL",
		Short: "Show and clear a user's sign-in locks",
		Long: `Show and clear a user's sign-in locks: password entry locked from some
addresses (or, after guessing from many addresses, from every address the
user never signed in from), and code entry locked after wrong codes. The
failure counts go too; the addresses the user signed in from stay known.
Clearing is audited (user.unlocked).`,
		Example: `  portcullis user unlock --email ada@acme.test`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onUser(cmd, email, func(ctx context.Context, st *store.Store, u *store.User) error {
				cleared, err := st.Unlock(ctx, u.ID, cliActor)
				if err != nil {
					return err
				}
				if !cleared.Locked() {
					fmt.Fprintf(c.stdout, "%s had no locks; failure counts cleared\n", u.Email)
					return nil
				}
				for _, l := range cleared.Password {
					from := l.Address
					if from == store.AnyAddress {
						from = "new addresses"
					}
					fmt.Fprintf(c.stdout, "cleared: password locked from %s until %s\n", from, l.LockedUntil.UTC().Format(time.RFC3339))
				}
				if cleared.CodesUntil != nil {
					fmt.Fprintf(c.stdout, "cleared: code entry locked until %s\n", cleared.CodesUntil.UTC().Format(time.RFC3339))
				}
				fmt.Fprintf(c.stdout, "unlocked %s\n", u.Email)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email address of the user (required)")
	return cmd
}

// onUser runs act on the user with email, for the commands that act on
// one user: a bad email is a usage error, an unknown one names it.
func (c *cli) onUser(cmd *cobra.Command, email string, act func(ctx context.Context, st *store.Store, u *store.User) error) error {
	addr, err := checkEmail(email)
	if err != nil {
		return usageError{err}
	}
	st, _, err := c.openAdminStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := userByEmail(cmd.Context(), st, addr)
	if err != nil {
		return err
	}
	return act(cmd.Context(), st, u)
}

// userByEmail finds a user, with an error that names the email.
func userByEmail(ctx context.Context, st *store.Store, email string) (*store.User, error) {
	u, err := st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no user with email %s (see 'portcullis user list --tenant SLUG')", store.NormalizeEmail(email))
	}
	return u, err
}

// dash stands in for an empty table cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
