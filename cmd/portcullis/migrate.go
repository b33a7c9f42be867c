package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date",
		Long: `Apply the pending schema migrations and print their versions.

Only migrate and serve (which migrates at start) create or change the
schema: the administration commands refuse a missing or unmigrated
database. Run migrate on its own to create the database, or to upgrade the
schema before rolling out new replicas. A database migrated by a newer
Portcullis is refused, never touched.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig(cmd)
			if err != nil {
				return err
			}
			st, applied, err := openStore(cmd.Context(), cfg, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			if len(applied) == 0 {
				fmt.Fprintln(c.stdout, "schema is up to date")
				return nil
			}
			for _, v := range applied {
				fmt.Fprintf(c.stdout, "applied migration %d\n", v)
			}
			return nil
		},
	}
}
