package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis-idp/portcullis/idp/store"
)

func newTenantCmd(c *cli) *cobra.Command {
	return group("tenant", "Manage tenants (customer accounts)",
		newTenantCreateCmd(c),
		newTenantListCmd(c),
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
	f.BoolVar(&requireTFA, "require-tfa", true, "require two-factor sign-in for every user of the tenant")
	return cmd
}

func newTenantListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Args:  exactArgs(0),
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
			fmt.Fprintln(tw, "SLUG\tNAME\tREQUIRE_TFA")
			for _, t := range tenants {
				fmt.Fprintf(tw, "%s\t%s\t%t\n", t.Slug, t.Name, t.RequireTFA)
			}
			return tw.Flush()
		},
	}
}

// problemsError turns a list of problems with the command line into one
// usage error, one problem a line, or nil.
func problemsError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return usageError{errors.New(strings.Join(problems, "\n"))}
}
