// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"github.com/spf13/cobra"
)

// helpTemplate lays out the help of every command as restic and rclone do:
// the usage line first, then what the command does, an example, the flags.
const helpTemplate = `Usage: {{.UseLine}}
{{with (or .Long .Short)}}
{{. | trimTrailingWhitespaces}}
{{end}}{{if .HasExample}}
Example:
{{.Example}}
{{end}}{{if .HasAvailableSubCommands}}
Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}
{{end}}{{if .HasAvailableLocalFlags}}
Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}{{if .HasAvailableInheritedFlags}}
Global flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}{{if .HasAvailableSubCommands}}
Run '{{.CommandPath}} COMMAND --help' for a command's usage, flags and an example.
{{end}}`

// usageTemplate is what cobra prints where it shows usage only.
const usageTemplate = `Usage: {{.UseLine}}
Run '{{.CommandPath}} --help' for more.
`

// setHelp gives the whole tree under root the same help layout, --version
// on every command, and flag errors that are usage errors.
func setHelp(root *cobra.Command) {
	root.SetHelpTemplate(helpTemplate)
	root.SetUsageTemplate(usageTemplate)
	root.SetVersionTemplate("rewind {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.PersistentFlags().Bool("version", false, "print rewind's version")
	setVersion(root)
}

// setVersion makes --version work on cmd and every command under it: cobra
// acts on the flag only where Version is set.
func setVersion(cmd *cobra.Command) {
	cmd.Version = Version
	for _, c := range cmd.Commands() {
		setVersion(c)
	}
}

// newHelpCommand is "rewind help [COMMAND]". Unlike cobra's own, it fails
// on a command rewind does not have.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "help [COMMAND]",
		Short:   "show a command's usage, flags and an example",
		Example: "  rewind help restore",
		Version: Version,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, c := range cmd.Root().Commands() {
				if c.IsAvailableCommand() {
					names = append(names, cobra.CompletionWithDesc(c.Name(), c.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			if len(args) == 0 {
				return root.Help()
			}
			c, _, err := root.Find(args)
			if err != nil || c == root {
				return unknownCommand(root, args[0])
			}
			return c.Help()
		},
	}
}
