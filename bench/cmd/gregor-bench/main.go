// Command gregor-bench holds the measurement tools that are not part of
// the broker binary:
//
//	gregor-bench bench produce|consume|e2e|latency|rtt [flags]   load and latency test any Kafka broker
//	gregor-bench scale partitions|connections|logsize|report [flags]
//	gregor-bench loadtest [flags]                               a hostile crowd against a running broker
//
// bench/run.sh (make bench) and bench/scale.sh (make scale) drive it.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gregor-bench:", err)
		os.Exit(1)
	}
}

func usage() error {
	return errors.New(`usage:
  gregor-bench bench produce|consume|e2e|latency|rtt [flags]   load and latency test any Kafka broker
  gregor-bench scale partitions|connections|logsize|report [flags]
                                                  how a gregor broker's cost grows (bench/scale.sh)
  gregor-bench loadtest [flags]                   a hostile crowd against a running broker`)
}

func run(args []string) error {
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "bench":
		return bench(args[1:])
	case "loadtest":
		return loadtest(args[1:])
	case "scale":
		return scale(args[1:])
	default:
		return usage()
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
