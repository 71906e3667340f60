package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/vrouter/vrouter/controlplane/config"
)

var lintCmd = &cobra.Command{
	Use:   "lint FILE",
	Short: "Validate a configuration file and print warnings",
	Long: `lint validates FILE exactly as vrouterd --check does (SPEC §3) and adds warnings
for people: shadowed security-group rules (L1), inner_access: accept hiding a
drop rule (L2), route entries that can never match (L3), and the warnings of
V20 and C4. Every error and warning is printed on its own line as
FILE:LINE:COL: <id>: <rule>: <message>; warnings say "warning:".

Exit status: 0 when the file is valid (warnings or not), 1 when it is invalid,
2 on usage errors.`,
	Example: `  vrouterctl lint /etc/vrouter/vrouter.yaml
  vrouterctl lint -o json configs/basic-two-vswitch.yaml`,
	Args: func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError{fmt.Errorf("lint takes exactly one FILE, got %d arguments", len(args))}
		}
		return nil
	},
	RunE: func(cmd *cobra.Command, args []string) error {
		code, err := runLint(args[0], outputFmt, cmd.OutOrStdout())
		if err != nil {
			return err
		}
		if code != 0 {
			return exitError{code}
		}
		return nil
	},
}

func init() { rootCmd.AddCommand(lintCmd) }

// lintResult is the JSON shape of `vrouterctl lint -o json`.
type lintResult struct {
	File        string         `json:"file"`
	Valid       bool           `json:"valid"`
	Errors      int            `json:"errors"`
	Warnings    int            `json:"warnings"`
	Diagnostics []*config.Diag `json:"diagnostics"`
}

// runLint validates file and writes the findings; it returns the exit code
// (0 valid, 1 invalid). A file that cannot be read is an error.
func runLint(file, format string, w io.Writer) (int, error) {
	c, warns, err := config.LoadAndValidate(file)
	errs := config.Diagnostics(err)
	if err != nil && len(errs) == 0 {
		return 1, err // I/O error: nothing was validated
	}
	all := append([]*config.Diag{}, errs...)
	all = append(all, warns...)
	if c != nil && err == nil {
		all = append(all, config.Lint(c)...)
	}
	config.SortDiags(all)
	res := lintResult{File: file, Valid: err == nil, Errors: len(errs), Warnings: len(all) - len(errs), Diagnostics: all}
	if res.Diagnostics == nil {
		res.Diagnostics = []*config.Diag{}
	}
	if format == outputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1, err
		}
	} else {
		for _, d := range all {
			fmt.Fprintln(w, d.String())
		}
		if res.Valid {
			fmt.Fprintf(w, "%s: valid (%d warnings)\n", file, res.Warnings)
		} else {
			fmt.Fprintf(w, "%s: invalid (%d errors, %d warnings)\n", file, res.Errors, res.Warnings)
		}
	}
	if !res.Valid {
		return 1, nil
	}
	return 0, nil
}
