package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  exactArgs(0),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(c.stdout, "portcullis %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
	// version reads no configuration: its help lists only its own flags,
	// not the configuration flags every other command inherits.
	cmd.SetUsageTemplate(ownFlagsUsage)
	return cmd
}

// ownFlagsUsage is cobra's usage template for a command without
// subcommands, without the "Global Flags" section.
const ownFlagsUsage = `Usage:
  {{.UseLine}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}
`
