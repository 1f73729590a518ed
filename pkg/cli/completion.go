// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCompletionCommand is "rewind completion SHELL": it prints the script
// that teaches SHELL rewind's commands and flags.
func newCompletionCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "print the shell completion script for bash, zsh, fish or PowerShell",
		Long: "Print the script that completes rewind's commands and flags in SHELL. Install it\n" +
			"once where the shell looks for completions (see the examples); new shells pick it up.",
		Example: "  rewind completion bash > /etc/bash_completion.d/rewind\n" +
			"  rewind completion zsh > \"${fpath[1]}/_rewind\"\n" +
			"  rewind completion fish > ~/.config/fish/completions/rewind.fish\n" +
			"  rewind completion powershell | Out-String | Invoke-Expression   # add to $PROFILE to keep it",
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("completion needs one shell (bash, zsh, fish or powershell), got %q: %w", args, ErrUsage)
			}
			w := cmd.OutOrStdout()
			var err error
			switch args[0] {
			case "bash":
				err = root.GenBashCompletionV2(w, true)
			case "zsh":
				err = root.GenZshCompletion(w)
			case "fish":
				err = root.GenFishCompletion(w, true)
			case "powershell":
				err = root.GenPowerShellCompletionWithDesc(w)
			default:
				return fmt.Errorf("completion: no script for shell %q; rewind has them for bash, zsh, fish and powershell: %w", args[0], ErrUsage)
			}
			if err != nil {
				return fmt.Errorf("writing the %s completion script: %w", args[0], err)
			}
			return nil
		},
	}
}
