package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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

func TestRecordReader(t *testing.T) {
	type rec struct {
		topic      string
		part       int32
		key, value *string
		hdrs       string
		ts         int64
	}
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name, format, in string
		want             []rec
		err              string // in the format's or the input's error
	}{
		{name: "tab key value", format: `%k\t%v\n`, in: "a\t1\nb\tx y\tz\n", want: []rec{{key: s("a"), value: s("1")}, {key: s("b"), value: s("x y\tz")}}},
		{name: "last line without newline", format: `%k=%v\n`, in: "a=1\nb=2", want: []rec{{key: s("a"), value: s("1")}, {key: s("b"), value: s("2")}}},
		{name: "every field", format: `%t|%p|%T|%h|%k|%v\n`, in: "t1|2|1700000000000|a=1,b=|k|v\n", want: []rec{{topic: "t1", part: 2, ts: 1700000000000, hdrs: "a=1,b=", key: s("k"), value: s("v")}}},
		{name: "empty headers", format: `%h;%v\n`, in: ";v\n", want: []rec{{value: s("v")}}},
		{name: "multi-byte delimiter", format: `%k::%v##`, in: "a:b::c#d####", want: []rec{{key: s("a:b"), value: s("c#d")}}, err: `record 2: input does not match -f: the input ends before "::"`},
		{name: "sized binary", format: `%K %k%S %v\n`, in: "2 a\n3 x\ty\n-1 0 \n", want: []rec{{key: s("a\n"), value: s("x\ty")}, {value: s("")}}},
		{name: "value up to the end", format: `%v\n`, in: "only", want: []rec{{value: s("only")}}},
		{name: "literal prefix", format: `>%v\n`, in: ">a\n>b\nc\n", want: []rec{{value: s("a")}, {value: s("b")}}, err: `"c" where ">" was expected`},
		{name: "missing delimiter", format: `%k,%v\n`, in: "abc", err: `record 1: input does not match -f: the input ends before ","`},
		{name: "bad partition", format: `%p %v\n`, in: "x v\n", err: `%p: "x" is not a partition`},
		{name: "bad length", format: `%S %v\n`, in: "-2 v\n", err: `%S: "-2" is not a length`},
		{name: "short sized field", format: `%S %v\n`, in: "9 abc\n", err: "ends inside a field of 9 bytes"},
		{name: "bad header", format: `%h %v\n`, in: "nokv v\n", err: `%h: "nokv" is not key=value`},
		{name: "no delimiter after verb", format: `%k%v\n`, err: "-f: %k must be followed by a delimiter"},
		{name: "verb at the end", format: `%k %v`, err: "-f: %v must be followed by a delimiter"},
		{name: "unknown verb", format: `%o\n`, err: "-f: unknown verb %o"},
		{name: "dangling size", format: `%K %v\n`, err: "%K needs a %k after it"},
		{name: "no field", format: `abc\n`, err: "reads no field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr, err := newRecordReader(tc.format, strings.NewReader(tc.in))
			var got []rec
			for err == nil {
				var r *kgo.Record
				r, err = rr.next()
				if err != nil {
					break
				}
				g := rec{topic: r.Topic, part: r.Partition}
				if r.Key != nil {
					g.key = s(string(r.Key))
				}
				if r.Value != nil {
					g.value = s(string(r.Value))
				}
				if !r.Timestamp.IsZero() {
					g.ts = r.Timestamp.UnixMilli()
				}
				var hs []string
				for _, h := range r.Headers {
					hs = append(hs, h.Key+"="+string(h.Value))
				}
				g.hdrs = strings.Join(hs, ",")
				got = append(got, g)
			}
			if tc.err == "" && err != io.EOF || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %d", len(got), len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.topic != w.topic || g.part != w.part || g.hdrs != w.hdrs || g.ts != w.ts || !eqPtr(g.key, w.key) || !eqPtr(g.value, w.value) {
					t.Errorf("record %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func eqPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// TestCLIProduceFormat produces with -f and reads back with consume -f in
// the same format: binary keys and values (newlines inside), headers,
// timestamps, partitions and topics from the input.
func TestCLIProduceFormat(t *testing.T) {
	b := target(t)
	mustCLI(t, b, "", "topic", "create", "fa", "-p", "2")
	mustCLI(t, b, "", "topic", "create", "fb", "-p", "1")
	const f = `%t|%p|%T|%h|%K|%k|%S|%v\n`
	recs := []string{
		"fa|1|1700000000001|h=1|3|k\n1|3|v\n1\n",
		"fb|0|1700000000002||2|k2|8|line two\n",
		"fa|1|1700000000003|a=x,b=y|2|k3|0|\n",
	}
	if out := mustCLI(t, b, strings.Join(recs, ""), "produce", "fa", "-f", f); out != "produced 3 records to fa\n" {
		t.Fatalf("produce -f: %q", out)
	}
	if out := mustCLI(t, b, "", "consume", "fa", "-p", "1", "-n", "2", "--from", "beginning", "-f", f); out != recs[0]+recs[2] {
		t.Errorf("consume fa -f:\n%q\nwant\n%q", out, recs[0]+recs[2])
	}
	if out := mustCLI(t, b, "", "consume", "fb", "-n", "1", "--from", "beginning", "-f", f); out != recs[1] {
		t.Errorf("consume fb -f: %q, want %q", out, recs[1])
	}
	// A record that does not match stops the run with what was produced.
	out, errs, code := runCLI(t, b, "x\ty\nnotab\n", "produce", "fa", "-p", "0", "-f", `%k\t%v\n`)
	if code != 1 || out != "" || !strings.Contains(errs, "produced 1 records to fa, then: record 2: input does not match -f") {
		t.Errorf("bad input: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A %t naming a missing topic says so.
	if _, errs, code := runCLI(t, b, "nosuch v\n", "produce", "fa", "-f", `%t %v\n`); code != 1 || !strings.Contains(errs, "topic nosuch does not exist") {
		t.Errorf("missing %%t topic: exit %d, stderr %q", code, errs)
	}
	for _, args := range [][]string{
		{"-f", `%k%v\n`},
		{"-f", `%k %v\n`, "-k", ":"},
		{"-f", `%p %v\n`, "-p", "1"},
	} {
		if _, errs, code := runCLI(t, b, "", append([]string{"produce", "fa"}, args...)...); code != 2 {
			t.Errorf("produce %q: exit %d, stderr %q, want usage error 2", args, code, errs)
		}
	}
}

// FuzzRecordReader: any format and input end in records, io.EOF or an
// error, never a panic or a loop.
func FuzzRecordReader(f *testing.F) {
	f.Add(`%k\t%v\n`, "a\tb\nc\td")
	f.Add(`%t|%p|%T|%h|%K|%k|%S|%v\n`, "fa|1|17|h=1|3|k\n1|3|v\n1\n")
	f.Add(`%k::%v##`, "a:b::c#d####")
	f.Fuzz(func(t *testing.T, format, in string) {
		rr, err := newRecordReader(format, strings.NewReader(in))
		if err != nil {
			return
		}
		for i := 0; i <= len(in)+1; i++ {
			if _, err := rr.next(); err != nil {
				return
			}
		}
		t.Fatalf("more records than input bytes from %q", in)
	})
}
