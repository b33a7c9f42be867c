package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis-idp/portcullis/idp/store"
)

func newSessionsCmd(c *cli) *cobra.Command {
	return group("sessions", "Manage browser sessions",
		newSessionsRevokeCmd(c),
	)
}

func newSessionsRevokeCmd(c *cli) *cobra.Command {
	var userEmail, tenantSlug string
	cmd := &cobra.Command{
		Use:   "revoke --user EMAIL | --tenant SLUG",
		Short: "End every session of a user or of a tenant",
		Long: `End every live browser session of one user (--user) or of every user of a
tenant (--tenant): the sessions stop working at once, their refresh tokens
are revoked and relying apps are sent a back-channel logout. Users keep
their password and two-factor setup and can sign in again.

The sessions it ends and an audit event are one transaction.`,
		Example: `  portcullis sessions revoke --user ada@acme.test
  portcullis sessions revoke --tenant acme`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case userEmail != "" && tenantSlug != "":
				return usageError{errors.New("give either --user or --tenant, not both")}
			case userEmail == "" && tenantSlug == "":
				return usageError{errors.New("give --user EMAIL or --tenant SLUG")}
			}
			var addr string
			if userEmail != "" {
				var err error
				if addr, err = checkEmail(userEmail); err != nil {
					return usageError{fmt.Errorf("--user: %w", err)}
				}
			}
			st, _, err := c.openAdminStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()

			var ended []store.EndedSession
			var whose string
			if addr != "" {
				u, err := userByEmail(ctx, st, addr)
				if err != nil {
					return err
				}
				if ended, err = st.RevokeUserSessions(ctx, u.ID, "", cliActor); err != nil {
					return err
				}
				whose = "user " + u.Email
			} else {
				t, err := tenantBySlug(ctx, st, tenantSlug)
				if err != nil {
					return err
				}
				if ended, err = st.RevokeTenantSessions(ctx, t.ID, "", cliActor); err != nil {
					return err
				}
				whose = "tenant " + t.Slug
			}
			fmt.Fprintf(c.stdout, "%s: sessions ended: %d\n", whose, len(ended))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&userEmail, "user", "", "email address of the user whose sessions end")
	f.StringVar(&tenantSlug, "tenant", "", "slug of the tenant whose sessions end")
	return cmd
}
