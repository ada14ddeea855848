// Package groupcheck drives the consumer group scenarios that need their
// own broker and real member processes: group_kill (three members share a
// 12-partition topic, one is SIGKILLed without leaving, the other two take
// its partitions over after the session timeout, and at-least-once commits
// leave no record unprocessed) and group_restart (commit, restart the
// broker, restart the members: they resume exactly at the committed offsets,
// and kadm describes the group, its assignment and its lag).
//
// Every member is a separate OS process of the client under test (the Go
// test binary re-executed in member mode, kcat -G, or a python script), so
// killing one is a real crash: no LeaveGroup, no final commit. Members talk
// to the driver over their stdout/stderr with one line per event:
//
//	R <partition> <offset> <value>   a record was processed (printed before it is committed)
//	A <p>,<p>,...                    the member's whole assignment now ("A" alone: none)
//	% Group <g> rebalanced (...): assigned: <topic> [p], ...   kcat's own rebalance lines
//
// The broker is a gregor process the driver starts itself (COMPAT_GREGOR,
// else bin/gregor found above the working directory) on a free loopback
// port with a fresh data directory, so it can be restarted and so these
// slow scenarios do not share a broker with the rest.
package groupcheck

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// Broker is a gregor process owned by one scenario.
type Broker struct {
	Addr string
	Dir  string
	bin  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	logs []string
	runs int
}

// GregorBinary finds the broker binary: COMPAT_GREGOR, else bin/gregor in
// the nearest parent directory that has one.
func GregorBinary() (string, error) {
	if b := os.Getenv("COMPAT_GREGOR"); b != "" {
		return b, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "bin", "gregor")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no bin/gregor above the working directory and COMPAT_GREGOR not set (make build)")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartBroker starts gregor in dir/data with the given extra overrides.
func StartBroker(dir string, overrides ...string) (*Broker, error) {
	bin, err := GregorBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &Broker{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, bin: bin}
	b.args = []string{"serve", "--log-format", "json",
		"--override", "listeners=PLAINTEXT://" + b.Addr,
		"--override", "log.dirs=" + filepath.Join(dir, "data")}
	for _, o := range overrides {
		b.args = append(b.args, "--override", o)
	}
	return b, b.start()
}

func (b *Broker) start() error {
	b.runs++
	log := filepath.Join(b.Dir, fmt.Sprintf("broker-%d.log", b.runs))
	f, err := os.Create(log)
	if err != nil {
		return err
	}
	b.logs = append(b.logs, log)
	cmd := exec.Command(b.bin, b.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	b.cmd = cmd
	exited := make(chan struct{})
	b.done = exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			out, _ := os.ReadFile(log)
			return fmt.Errorf("broker exited at start: %s", bytes.TrimSpace(out))
		default:
		}
		if c, err := net.DialTimeout("tcp", b.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("broker did not open %s in 20s (log %s)", b.Addr, log)
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 20 s).
func (b *Broker) Stop() error {
	if b.cmd == nil || b.cmd.Process == nil {
		return nil
	}
	cmd := b.cmd
	b.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		return nil
	case <-time.After(20 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-b.done
	return fmt.Errorf("broker did not exit within 20s of SIGTERM; killed")
}

// Restart stops the broker and starts it again on the same port and data
// directory.
func (b *Broker) Restart() error {
	if err := b.Stop(); err != nil {
		return err
	}
	// The port may linger briefly; the listener sets SO_REUSEADDR in Go.
	return b.start()
}

var panicRe = regexp.MustCompile(`"level":"(panic|fatal)"|(?m)^panic:|DATA RACE`)

// Panicked reports the first broker log that holds a panic.
func (b *Broker) Panicked() string {
	for _, l := range b.logs {
		if out, err := os.ReadFile(l); err == nil && panicRe.Match(out) {
			return l
		}
	}
	return ""
}
