// Command vrouterctl is the command-line client of vrouterd (SPEC R6): one
// subcommand per API action over the unix socket, plus local tools such as
// `lint`. Each subcommand lives in its own file and registers itself with
// rootCmd from an init function:
//
//	func init() { rootCmd.AddCommand(fooCmd) }
//
// Exit codes: 0 success, 1 failure (an invalid file, an API error), 2 usage
// errors (unknown command or flag, wrong arguments, bad --output). Errors
// returned by a subcommand's RunE count as failures; flag and argument
// errors found by cobra count as usage errors.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Output formats of -o/--output.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// defaultSocket is the API socket when neither --socket nor
// $VROUTER_SOCKET is given (SPEC R1, R6).
const defaultSocket = "/run/vrouterd.sock"

// Global flags, set by cobra before any RunE runs; read-only afterwards.
var (
	socketPath string
	outputFmt  string
)

var rootCmd = &cobra.Command{
	Use:           "vrouterctl",
	Short:         "Control and inspect vrouterd",
	Long:          "vrouterctl talks to vrouterd over its API socket (HTTP/JSON on a unix socket) and\nvalidates configuration files locally.",
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		if outputFmt != outputTable && outputFmt != outputJSON {
			return usageError{fmt.Errorf("--output must be %s or %s, not %q", outputTable, outputJSON, outputFmt)}
		}
		return nil
	},
}

func init() {
	def := os.Getenv("VROUTER_SOCKET")
	if def == "" {
		def = defaultSocket
	}
	rootCmd.PersistentFlags().StringVar(&socketPath, "socket", def, "path of vrouterd's API socket (default from $VROUTER_SOCKET)")
	rootCmd.PersistentFlags().StringVarP(&outputFmt, "output", "o", outputTable, "output format: table or json")
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
}

// usageError marks an error as a usage error (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitError carries an exit code chosen by a subcommand that has already
// printed what it had to say (e.g. lint: 1 when the file is invalid).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// runFailure marks errors returned by a subcommand's RunE (exit 1).
type runFailure struct{ err error }

func (r runFailure) Error() string { return r.err.Error() }
func (r runFailure) Unwrap() error { return r.err }

// markRunErrors wraps every RunE below cmd so that its errors are told
// apart from cobra's own usage errors. Subcommands keep returning plain
// errors.
func markRunErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if err := run(c, args); err != nil {
				return runFailure{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markRunErrors(sub)
	}
}

// execute runs the command line args and returns the exit code.
func execute(args []string, stdout, stderr io.Writer) int {
	rootCmd.SetArgs(args)
	rootCmd.SetOut(stdout)
	rootCmd.SetErr(stderr)
	err := rootCmd.Execute()
	var ee exitError
	var rf runFailure
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "vrouterctl:", err)
		fmt.Fprintln(stderr, "Run 'vrouterctl --help' for usage.")
		return 2
	case errors.As(err, &rf):
		fmt.Fprintln(stderr, "vrouterctl:", err)
		return 1
	default:
		// Errors cobra produced itself: unknown command, bad arguments.
		fmt.Fprintln(stderr, "vrouterctl:", err)
		fmt.Fprintln(stderr, "Run 'vrouterctl --help' for usage.")
		return 2
	}
}

func main() {
	markRunErrors(rootCmd)
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
