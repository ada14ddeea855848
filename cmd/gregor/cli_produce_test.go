package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCLIProduceConsume(t *testing.T) {
	b := target(t)
	mustCLI(t, b, "", "topic", "create", "lines", "-p", "1")
	var in strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&in, "%d\n", i)
	}
	if out := mustCLI(t, b, in.String(), "produce", "lines"); out != "produced 1000 records to lines\n" {
		t.Errorf("produce: %q", out)
	}
	if out := mustCLI(t, b, "", "consume", "lines", "-n", "10", "--from", "beginning"); out != "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n" {
		t.Errorf("consume -n 10 --from beginning: %q", out)
	}
	if out := mustCLI(t, b, "", "consume", "lines", "-n", "2", "--from", "998", "-f", `%t/%p@%o %v\n`); out != "lines/0@998 999\nlines/0@999 1000\n" {
		t.Errorf("consume --from 998: %q", out)
	}

	// Keys, headers, a partition, the other verbs and JSON.
	mustCLI(t, b, "", "topic", "create", "kv", "-p", "2")
	if out := mustCLI(t, b, "a:1\nb:2:x\nnokey\n", "produce", "kv", "-k", ":", "-H", "h1=v1", "-H", "h2=v2", "-p", "1"); out != "produced 3 records to kv\n" {
		t.Errorf("produce kv: %q", out)
	}
	out := mustCLI(t, b, "", "consume", "kv", "-n", "3", "--from", "beginning", "-f", `%p %o [%k] [%v] %h %K %S %%\n`)
	if want := "1 0 [a] [1] h1=v1,h2=v2 1 1 %\n1 1 [b] [2:x] h1=v1,h2=v2 1 3 %\n1 2 [] [nokey] h1=v1,h2=v2 0 5 %\n"; out != want {
		t.Errorf("consume kv:\n%s\nwant:\n%s", out, want)
	}
	out = mustCLI(t, b, "", "--format", "json", "consume", "kv", "-n", "3", "--from", "beginning")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("json: %q", out)
	}
	var r recordJSON
	if err := json.Unmarshal([]byte(lines[1]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Topic != "kv" || r.Partition != 1 || r.Offset != 1 || *r.Key != "b" || *r.Value != "2:x" || len(r.Headers) != 2 || r.Headers[1] != (headerJSON{"h2", "v2"}) || r.Timestamp <= 0 {
		t.Errorf("json record: %+v", r)
	}
	// @TIMESTAMP_MS past every record waits; one before them all is the first.
	if out := mustCLI(t, b, "", "consume", "kv", "-n", "1", "--from", fmt.Sprintf("@%d", r.Timestamp-60000), "-p", "1", "-f", `%o\n`); out != "0\n" {
		t.Errorf("--from @ts: %q", out)
	}
	for _, cmd := range []string{"produce", "consume"} {
		want := "gregor: topic nosuch does not exist (create it with: gregor topic create nosuch)\n"
		if out, errs, code := runCLI(t, b, "x\n", cmd, "nosuch"); code != 1 || out != "" || errs != want {
			t.Errorf("%s to a missing topic: exit %d, stdout %q, stderr %q", cmd, code, out, errs)
		}
	}
	if _, errs, code := runCLI(t, b, "", "consume", "kv", "--from", "yesterday"); code != 2 || !strings.Contains(errs, "--from") {
		t.Errorf("bad --from: exit %d %q", code, errs)
	}
}

// lineWriter counts lines written and says when it has seen want.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  int
	ready chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _ := w.buf.Write(p)
	if bytes.Count(w.buf.Bytes(), []byte("\n")) >= w.want && w.ready != nil {
		close(w.ready)
		w.ready = nil
	}
	return n, nil
}

// TestCLIConsumeFollowInterrupt: without -n consume follows the topic
// and an interrupt ends it with exit 0.
func TestCLIConsumeFollowInterrupt(t *testing.T) {
	b := target(t)
	mustCLI(t, b, "", "topic", "create", "f", "-p", "1")
	mustCLI(t, b, "x\ny\n", "produce", "f")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := &lineWriter{want: 3, ready: make(chan struct{})}
	ready := w.ready
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"-b", b, "consume", "f", "--from", "beginning"}, strings.NewReader(""), w, &errb)
	}()
	mustCLI(t, b, "z\n", "produce", "f") // arrives while following
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatalf("consume printed %q", w.buf.String())
	}
	cancel()
	if code := <-done; code != 0 || w.buf.String() != "x\ny\nz\n" || errb.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, w.buf.String(), errb.String())
	}
}

// TestCLIProduceFileProgress: --file with --progress always draws the bar
// on stderr (description, 100%, byte rate) and still produces every line;
// never keeps stderr empty; a bad mode is a usage error.
func TestCLIProduceFileProgress(t *testing.T) {
	b := target(t)
	mustCLI(t, b, "", "topic", "create", "fromfile", "-p", "1")
	var in strings.Builder
	for i := 1; i <= 5000; i++ {
		fmt.Fprintf(&in, "line-%d\n", i)
	}
	path := t.TempDir() + "/in.txt"
	if err := os.WriteFile(path, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(t, b, "", "produce", "fromfile", "--file", path, "--progress", "always")
	if code != 0 || out != "produced 5000 records to fromfile\n" {
		t.Fatalf("produce --file: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if !strings.Contains(errs, "produce "+path) || !strings.Contains(errs, "100%") || !strings.Contains(errs, "B/s") {
		t.Errorf("progress bar on stderr: %q", errs)
	}
	out, errs, code = runCLI(t, b, "", "produce", "fromfile", "--file", path, "--progress", "never")
	if code != 0 || out != "produced 5000 records to fromfile\n" || errs != "" {
		t.Errorf("--progress never: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := mustCLI(t, b, "", "consume", "fromfile", "-n", "1", "--from", "9999", "-f", `%v\n`); out != "line-5000\n" {
		t.Errorf("last record: %q", out)
	}
	if _, errs, code := runCLI(t, b, "", "produce", "fromfile", "--file", path, "--progress", "sometimes"); code != 2 || !strings.Contains(errs, "--progress") {
		t.Errorf("bad --progress: exit %d, stderr %q", code, errs)
	}
}
