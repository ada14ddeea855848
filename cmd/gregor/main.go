// Command gregor is a Kafka-compatible broker in one binary. The
// benchmark, scale and load tools are a separate command,
// bench/cmd/gregor-bench.
//
//	gregor serve [--config server.properties] [--override key=value]... [--add-scram SPEC]...
//	gregor version
//	gregor topic|produce|consume|group|cluster ...   admin commands (cli*.go)
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"gregor/broker"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "", "Kafka-style server.properties file")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "auto", "log format: auto (console on a terminal, else json), console, json")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) for profiling; off by default")
	var overrides multiFlag
	fs.Var(&overrides, "override", "key=value, overrides the file and environment (repeatable)")
	var addScram multiFlag
	fs.Var(&addScram, "add-scram", "a SCRAM credential the cluster gets when it is first created, as kafka-storage format --add-scram: 'SCRAM-SHA-512=[name=admin,password=admin-secret]' (repeatable; ignored once the cluster exists)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// kafka-server-start.sh takes the file as an argument; say so
		// rather than start with the defaults.
		return fmt.Errorf("serve: unexpected argument %q (the properties file goes in --config FILE)", fs.Arg(0))
	}
	cfg, err := broker.Load(*configPath, os.Environ(), overrides)
	if err != nil {
		return err
	}
	for _, spec := range addScram {
		if err := cfg.AddScram(spec); err != nil {
			return err
		}
	}
	log, err := newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	srv, err := broker.New(cfg, log)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("--pprof-addr: %w", err)
		}
		log.Info().Str("addr", ln.Addr().String()).Msg("serving pprof")
		go http.Serve(ln, nil) // net/http/pprof registers on the default mux
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

func newLogger(level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("--log-level: %w", err)
	}
	// Millisecond timestamps: failover and rebalance timings are read
	// from the logs. (zerolog keeps this one setting package-wide.)
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	var log zerolog.Logger
	switch {
	case format == "console" || (format == "auto" && term.IsTerminal(int(os.Stderr.Fd()))):
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly})
	case format == "json" || format == "auto":
		log = zerolog.New(os.Stderr)
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format: %q is not auto, console or json", format)
	}
	return log.Level(lvl).With().Timestamp().Logger(), nil
}
