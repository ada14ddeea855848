package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Exit codes of the gregor command.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed (unreachable broker, request error, unhealthy cluster)
	exitUsage   = 2 // bad arguments or flags
)

// usageError is an error in the command line; the command exits 2.
type usageError struct{ error }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// errSilent fails the command with exit code 1 after it has already said
// why on stdout (cluster health).
var errSilent = errors.New("")

// cli holds the global flags and the streams every command writes to.
type cli struct {
	brokers string
	format  string
	timeout time.Duration
	sec     securityFlags // --tls, --sasl-mechanism, --user, --password (cli_security.go)
	profile string        // --profile (cli_profile.go)

	stdin          io.Reader
	stdout, stderr io.Writer
	started        bool // a command's RunE was reached (errors before it are usage errors)
}

// execute runs the command tree on args and returns the exit code,
// having written any error to stderr as one line.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if err != errSilent {
		fmt.Fprintln(stderr, "gregor:", err)
	}
	var ue usageError
	if errors.As(err, &ue) || !c.started {
		return exitUsage
	}
	return exitFailure
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "gregor",
		Short:         "gregor is a Kafka-compatible broker; its admin commands work against any Kafka-compatible cluster",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			c.started = true
			if c.format != "table" && c.format != "json" {
				return usageErrorf("--format: %q is not table or json", c.format)
			}
			return c.applyProfile(cmd)
		},
	}
	defBrokers := os.Getenv("GREGOR_BROKERS")
	if defBrokers == "" {
		defBrokers = "localhost:9092"
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&c.brokers, "brokers", "b", defBrokers, "bootstrap brokers HOST:PORT,... (env GREGOR_BROKERS)")
	pf.StringVar(&c.format, "format", "table", "output format: table or json")
	pf.DurationVar(&c.timeout, "timeout", 10*time.Second, "timeout of each request to the cluster")
	c.sec.register(pf)
	c.registerProfileFlag(pf)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		&cobra.Command{
			Use:                "serve [--config FILE] [--override key=value]...",
			Short:              "run a broker",
			DisableFlagParsing: true,
			Annotations:        map[string]string{skipProfile: "1"},
			RunE: func(cmd *cobra.Command, args []string) error {
				c.started = true
				return serve(args)
			},
		},
		&cobra.Command{
			Use:   "version",
			Short: "print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, args []string) { fmt.Fprintln(c.stdout, "gregor", version) },
		},
		c.topicCmd(),
		c.produceCmd(),
		c.consumeCmd(),
		c.groupCmd(),
		c.clusterCmd(),
		c.userCmd(),
		c.profileCmd(),
		c.aclCmd(),
		c.partitionCmd(),
	)
	return root
}

// seeds returns the --brokers list.
func (c *cli) seeds() []string {
	var s []string
	for _, b := range strings.Split(c.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			s = append(s, b)
		}
	}
	return s
}

// client dials the seed brokers once (so an unreachable cluster is one
// clear error, not kgo's retries) and returns a kgo client with bounded
// timeouts. The caller closes it.
func (c *cli) client(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := c.seeds()
	if len(seeds) == 0 {
		return nil, usageErrorf("--brokers: no brokers given")
	}
	secOpts, err := c.sec.opts()
	if err != nil {
		return nil, err
	}
	dialTimeout := 3 * time.Second
	var firstErr error
	reached := false
	for _, s := range seeds {
		d := net.Dialer{Timeout: dialTimeout}
		conn, err := d.DialContext(ctx, "tcp", s)
		if err == nil {
			conn.Close()
			reached = true
			break
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if !reached {
		return nil, fmt.Errorf("cannot reach brokers %s: %v", strings.Join(seeds, ","), firstErr)
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DialTimeout(dialTimeout),
		kgo.RequestTimeoutOverhead(c.timeout),
		kgo.RetryTimeout(c.timeout),
		kgo.RequestRetries(2),
		kgo.ClientID("gregor-cli"),
	}
	base = append(base, secOpts...)
	return kgo.NewClient(append(base, opts...)...)
}

// admin returns a kadm client over c.client; close with its Close.
func (c *cli) admin(ctx context.Context) (*kadm.Client, error) {
	cl, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// withAdmin makes a command's RunE from f, which gets an admin client
// (closed afterwards) and a context bounding the exchange.
func (c *cli) withAdmin(f func(ctx context.Context, adm *kadm.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		adm, err := c.admin(cmd.Context())
		if err != nil {
			return err
		}
		defer adm.Close()
		ctx, cancel := c.reqCtx(cmd.Context())
		defer cancel()
		return f(ctx, adm, args)
	}
}

// reqCtx bounds one admin exchange.
func (c *cli) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout+5*time.Second)
}

func (c *cli) json() bool { return c.format == "json" }

// writeJSON writes v as indented JSON.
func (c *cli) writeJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows aligned in columns (text/tabwriter), without
// trailing blanks.
func (c *cli) table(header []string, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line != "" {
			out.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
	_, err := io.WriteString(c.stdout, out.String())
	return err
}

// exactArgs is cobra.ExactArgs returning a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s: want %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s: want at least %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

// keyValues parses k=v strings.
func keyValues(flag string, kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("%s: %q is not key=value", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// requireTopic fails clearly when topic does not exist, rather than
// leaving a producer or consumer waiting for it.
func (c *cli) requireTopic(ctx context.Context, cl *kgo.Client, topic string) error {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return err
	}
	if td, ok := tds[topic]; !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %s does not exist (create it with: gregor topic create %s)", topic, topic)
	} else if td.Err != nil {
		return fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	return nil
}

// parentRun is the RunE of a command that only groups subcommands: help
// without arguments, a usage error for an unknown subcommand.
func parentRun(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}
