package broker

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines started by its tests are
// still running after them: a broker, client or timer that was not
// stopped.
func TestMain(m *testing.M) {
	before := goroutineIDs()
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(before, 10*time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutines leaked by the tests:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines not in before that
// are still there after up to wait (goroutines that are ending get that
// long to end; polled, not slept through).
func leakedGoroutines(before map[string]bool, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for id, stack := range goroutines() {
			if !before[id] && !ignoredGoroutine(stack) {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func goroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for id := range goroutines() {
		ids[id] = true
	}
	return ids
}

// goroutines returns every goroutine's stack by its id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "goroutine 42 [chan receive]:\n..."
		head, _, _ := strings.Cut(g, "\n")
		fields := strings.Fields(head)
		if len(fields) >= 2 && fields[0] == "goroutine" {
			out[fields[1]] = g
		}
	}
	return out
}

// ignoredGoroutine reports whether a goroutine belongs to the runtime or
// the testing package rather than to a test.
func ignoredGoroutine(stack string) bool {
	for _, s := range []string{
		"testing.(*M).",
		"testing.tRunner",
		"testing.runTests",
		"runtime.goexit0",
		"os/signal.signal_recv",
		"runtime.ensureSigM",
		"main.main()",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
