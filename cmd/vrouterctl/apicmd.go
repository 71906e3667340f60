package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrouter/vrouter/controlplane/api"
)

// callTimeout bounds one API call. A reload or a change on a very large
// configuration (SPEC P4: a million routes) recompiles everything, so the
// bound is generous; Ctrl-C still ends the command at once.
const callTimeout = 5 * time.Minute

// apiCall runs action on vrouterd. With -o json it prints the reply as
// indented JSON and returns printed=true: the caller has nothing left to
// do. Otherwise it decodes the reply into out for the caller to print.
// API errors come back as *api.Error, whose text lists every error on its
// own line (main prints it on stderr and exits 1).
func apiCall(cmd *cobra.Command, action string, params, out any) (printed bool, err error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	c := api.NewClient(socketPath)
	defer c.Close()
	if outputFmt == outputJSON {
		var raw json.RawMessage
		if err := c.Call(ctx, action, params, &raw); err != nil {
			return true, err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return true, fmt.Errorf("%s: reply is not JSON: %v", action, err)
		}
		buf.WriteByte('\n')
		_, err := cmd.OutOrStdout().Write(buf.Bytes())
		return true, err
	}
	return false, c.Call(ctx, action, params, out)
}

// table writes aligned columns for people.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(toAny(header)...)
	return t
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func (t *table) row(cols ...any) {
	parts := make([]string, len(cols))
	for i, c := range cols {
		s := fmt.Sprint(c)
		if s == "" {
			s = "-"
		}
		parts[i] = s
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// list renders ids for a table cell.
func list(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, ",")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// noArgs rejects positional arguments as a usage error (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))}
	}
	return nil
}

// mustFlag registers a required flag (cobra reports it missing as a
// usage error).
func mustFlag(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		if err := cmd.MarkFlagRequired(n); err != nil {
			panic(err)
		}
	}
}

// mutationCmd builds a subcommand for a mutating action: flags are
// registered by setup, which returns the builder of the parameters. On
// success it prints one line and any warnings of the new configuration.
func mutationCmd(use, action, short, long, example string, setup func(cmd *cobra.Command) func(cmd *cobra.Command) (any, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long + "\n\nThe change is validated exactly like the configuration file (SPEC §3), applied\natomically and saved in the state directory's overlay (see `vrouterctl state show`).",
		Example: example,
		Args:    noArgs,
	}
	build := setup(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		params, err := build(cmd)
		if err != nil {
			return err
		}
		var resp api.MutationResponse
		printed, err := apiCall(cmd, action, params, &resp)
		if err != nil || printed {
			return err
		}
		w := cmd.OutOrStdout()
		for _, warn := range resp.Warnings {
			fmt.Fprintln(w, "warning:", warn)
		}
		fmt.Fprintf(w, "%s: done (overlay: %d operations)\n", action, resp.OverlayOps)
		return nil
	}
	return cmd
}

// changedString returns a pointer to v when the flag was given, else nil.
func changedString(cmd *cobra.Command, name, v string) *string {
	if cmd.Flags().Changed(name) {
		return &v
	}
	return nil
}
