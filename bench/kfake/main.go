// Command kfake runs a one-broker franz-go kfake cluster on a loopback port,
// the reference broker that bench/run.sh measures gregor against. It lives
// in its own module so that kfake stays out of gregor's go.mod.
//
//	kfake [--port 0] [--data-dir DIR] [--partitions 8] [--seed-topic t]...
//
// It prints the listen address on stdout once the cluster is up and runs
// until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 0, "listen port on 127.0.0.1 (0: any free port)")
	dataDir := flag.String("data-dir", "", "persist to this directory (page cache, no fsync, like gregor's defaults); empty keeps everything in memory")
	partitions := flag.Int("partitions", -1, "partitions of each --seed-topic and of auto-created topics (-1: kfake's default)")
	var seeds multiFlag
	flag.Var(&seeds, "seed-topic", "topic to create at start (repeatable)")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(),
	}
	if *partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(*partitions))
	}
	if len(seeds) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), seeds...))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println(c.ListenAddrs()[0])

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	<-sigs
	return nil
}
