// Command groupcheck runs the group_kill or group_restart scenario
// (internal/groupcheck) with member processes given on the command line,
// for clients whose scenarios are not Go tests (the python ones):
//
//	groupcheck kill|restart -client NAME -- CMD [ARGS...]
//
// Each member runs CMD ARGS with the COMPAT_MEMBER_* environment and must
// print the R/A lines the package documents. The last stdout line is
// "PASS <detail>" or "FAIL <error>"; the exit status is 0 or 1. Progress
// goes to stderr.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"gregor/compat-tests/internal/groupcheck"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: groupcheck kill|restart -client NAME -- CMD [ARGS...]")
		os.Exit(2)
	}
	scenario := os.Args[1]
	fs := flag.NewFlagSet(scenario, flag.ExitOnError)
	client := fs.String("client", "", "client name, for topic and log names")
	_ = fs.Parse(os.Args[2:])
	argv := fs.Args()
	if *client == "" || len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "usage: groupcheck kill|restart -client NAME -- CMD [ARGS...]")
		os.Exit(2)
	}
	cfg := groupcheck.Config{Client: *client, Member: func(groupcheck.MemberEnv) *exec.Cmd {
		return exec.Command(argv[0], argv[1:]...)
	}}
	var (
		detail string
		err    error
	)
	switch scenario {
	case "kill":
		detail, err = groupcheck.Kill(cfg)
	case "restart":
		detail, err = groupcheck.Restart(cfg)
	default:
		fmt.Fprintf(os.Stderr, "unknown scenario %q\n", scenario)
		os.Exit(2)
	}
	if err != nil {
		fmt.Println("FAIL " + strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(1)
	}
	fmt.Println("PASS " + detail)
}
