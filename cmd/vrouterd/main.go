// Command vrouterd is the vrouter daemon (SPEC R1–R4): it reads a VPC
// configuration, creates a TUN port for every ENI in its namespace and
// forwards between them. With --check it only validates the file.
//
// Exit codes: 0 success (or a valid file with --check), 1 invalid
// configuration or a start-up failure (R2), 2 usage errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/vrouter/vrouter/controlplane/agent"
	"github.com/vrouter/vrouter/controlplane/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrouterd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgPath     = fs.String("config", "", "configuration file (required)")
		stateDir    = fs.String("state-dir", "/var/lib/vrouterd", "directory for runtime state (API overlay, multicast changes, saved flows)")
		apiSocket   = fs.String("api-socket", "/run/vrouterd.sock", "unix socket of the admin API")
		metricsAddr = fs.String("metrics-addr", "127.0.0.1:9469", "address of the Prometheus /metrics endpoint (port 0 picks a free port)")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn, error")
		logFormat   = fs.String("log-format", "", "log format: json or console (default: console on a terminal, else json)")
		check       = fs.Bool("check", false, "validate the configuration and exit: 0 valid, 1 invalid")
		onExit      = fs.String("on-exit", "teardown", "what to do with ports on exit: teardown (remove everything) or keep (leave ports, save flows; SPEC Q7)")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vrouterd --config FILE [--state-dir DIR] [--api-socket PATH] [--metrics-addr ADDR]\n"+
			"                [--log-level LEVEL] [--log-format json|console] [--on-exit teardown|keep] [--check]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "vrouterd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "vrouterd: --config FILE is required")
		fs.Usage()
		return 2
	}
	if *onExit != "teardown" && *onExit != "keep" {
		fmt.Fprintf(stderr, "vrouterd: --on-exit must be teardown or keep, not %q\n", *onExit)
		return 2
	}

	if *check {
		return checkOnly(*cfgPath, stdout, stderr)
	}

	log, err := newLogger(*logLevel, *logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vrouterd: %v\n", err)
		return 2
	}
	defer log.Sync() //nolint:errcheck

	a := agent.New(agent.Options{
		ConfigPath:  *cfgPath,
		StateDir:    *stateDir,
		APISocket:   *apiSocket,
		MetricsAddr: *metricsAddr,
		KeepOnExit:  *onExit == "keep",
		Log:         log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Start(ctx); err != nil {
		// R2: one clear line, nothing left behind (Start rolls back).
		log.Error("start failed", zap.Error(err))
		fmt.Fprintf(stderr, "vrouterd: %v\n", err)
		return 1
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			// Errors are logged by the agent with their positions (R3).
			_ = a.HandleSIGHUP()
			continue
		}
		log.Info("stopping", zap.String("signal", sig.String()))
		break
	}
	signal.Stop(sigs)
	if err := a.Stop(); err != nil {
		log.Error("stop", zap.Error(err))
		return 1
	}
	return 0
}

// checkOnly implements --check (SPEC §3): every error and warning, one a line.
func checkOnly(path string, stdout, stderr io.Writer) int {
	_, warnings, err := config.LoadAndValidate(path)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.Error())
	}
	if err != nil {
		for _, e := range config.Diagnostics(err) {
			fmt.Fprintln(stderr, e)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", path)
	return 0
}

func newLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "console"
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("--log-format must be json or console, not %q", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core), nil
}
