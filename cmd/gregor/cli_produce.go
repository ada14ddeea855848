package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"
)

func (c *cli) produceCmd() *cobra.Command {
	var (
		file      string
		keySep    string
		headers   []string
		partition int32
		progress  string
		format    string
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "produce one record per line of stdin (or --file), acks=all",
		Long: `Produce one record per input line, with acks=all and an idempotent producer.
With -k SEP each line is KEY SEP VALUE (split at the first SEP, like kcat -K).
With -f FORMAT the input is read by a kcat-like format instead of by lines:
literal text must appear in the input as written and each field runs up to
the literal after it (newlines included, unless the newline is that
literal). Fields: %t topic (TOPIC is the default), %p partition, %k key,
%v value, %h headers (k=v,k=v), %T timestamp in ms, %K and %S the byte
lengths of the key and value, which make the next %k or %v read exactly
that many bytes (-1: null). %% percent; \n \t \r \\ escapes. What
"gregor consume -f" prints with the same format reads back the same
records, e.g. -f '%K %k%S %v\n' for binary keys and values.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			hdrs, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			if progress != "auto" && progress != "always" && progress != "never" {
				return usageErrorf("--progress: %q is not auto, always or never", progress)
			}
			var in io.Reader = c.stdin
			var bar *progressbar.ProgressBar
			if file != "" && file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
				if c.showProgress(progress) {
					size := int64(-1)
					if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
						size = fi.Size()
					}
					bar = newFileBar(c.stderr, size, file)
					in = &barReader{r: f, bar: bar}
				}
			}
			var next func() (*kgo.Record, error)
			perTopic := false
			manual := partition >= 0
			if format == "" {
				next = lineSource(in, keySep)
			} else {
				if keySep != "" {
					return usageErrorf("produce: -f and -k do not go together (use a delimiter in -f)")
				}
				rr, err := newRecordReader(format, in)
				if err != nil {
					return err
				}
				if rr.has('p') {
					if partition >= 0 {
						return usageErrorf("produce: -f with %%p and -p do not go together")
					}
					manual = true
				}
				next = rr.next
				perTopic = rr.has('t')
			}
			opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())}
			if manual {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			cl, err := c.client(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := c.requireTopic(cmd.Context(), cl, topic); err != nil {
				return err
			}
			var check func(*kgo.Record) error
			if perTopic {
				// Each topic a %t names must exist, checked once.
				seen := map[string]bool{topic: true}
				check = func(r *kgo.Record) error {
					if r.Topic == "" || seen[r.Topic] {
						return nil
					}
					if err := c.requireTopic(cmd.Context(), cl, r.Topic); err != nil {
						return err
					}
					seen[r.Topic] = true
					return nil
				}
			}
			n, err := produceRecords(cmd.Context(), cl, next, hdrs, partition, check)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(c.stderr)
			}
			if err != nil {
				return fmt.Errorf("produced %d records to %s, then: %w", n, topic, err)
			}
			if c.json() {
				return c.writeJSON(struct {
					Topic   string `json:"topic"`
					Records int64  `json:"records"`
				}{topic, n})
			}
			fmt.Fprintf(c.stdout, "produced %d records to %s\n", n, topic)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read lines from this file instead of stdin")
	cmd.Flags().StringVarP(&keySep, "key-separator", "k", "", "split each line into key and value at the first SEP (kcat -K)")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	cmd.Flags().Int32VarP(&partition, "partition", "p", -1, "produce to this partition (default: the client's sticky partitioner)")
	cmd.Flags().StringVarP(&format, "fmt", "f", "", `kcat-like input format, e.g. "%k\t%v\n" (default: one value per line)`)
	cmd.Flags().StringVar(&progress, "progress", "auto", "progress bar on stderr for --file: auto (when stderr is a terminal), always or never")
	return cmd
}

// showProgress tells whether produce --file draws its progress bar.
func (c *cli) showProgress(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := c.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newFileBar is produce's progress bar over the bytes of the input file
// (size -1: unknown, a spinner), with the byte rate and time left.
func newFileBar(w io.Writer, size int64, name string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("produce "+name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
	)
}

// barReader advances bar by the bytes read through it.
type barReader struct {
	r   io.Reader
	bar *progressbar.ProgressBar
}

func (b *barReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.bar.Add(n)
	}
	return n, err
}

func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--header: %q is not key=value", h)
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}

// lineSource reads one record per line of in: KEY SEP VALUE with keySep,
// else the whole line as the value.
func lineSource(in io.Reader, keySep string) func() (*kgo.Record, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return func() (*kgo.Record, error) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		line := sc.Bytes()
		r := &kgo.Record{}
		if keySep != "" {
			if k, v, ok := strings.Cut(string(line), keySep); ok {
				r.Key, r.Value = []byte(k), []byte(v)
				return r, nil
			}
		}
		r.Value = append([]byte(nil), line...)
		return r, nil
	}
}

// produceRecords produces every record next returns until io.EOF, with
// hdrs added and the partition set (partition >= 0), and waits for every
// acknowledgement; it returns how many were acknowledged and the first
// error. check is called with each record first (nil: nothing to check).
func produceRecords(ctx context.Context, cl *kgo.Client, next func() (*kgo.Record, error), hdrs []kgo.RecordHeader, partition int32, check func(*kgo.Record) error) (int64, error) {
	var (
		mu       sync.Mutex
		acked    int64
		firstErr error
	)
	done := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		acked++
	}
	var readErr error
	for {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		r, err := next()
		if err == io.EOF {
			break
		}
		if err == nil && check != nil {
			err = check(r)
		}
		if err != nil {
			readErr = err
			break
		}
		r.Headers = append(r.Headers, hdrs...)
		if partition >= 0 {
			r.Partition = partition
		}
		cl.Produce(ctx, r, done)
	}
	flushErr := cl.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case firstErr != nil:
		return acked, firstErr
	case readErr != nil:
		return acked, readErr
	case flushErr != nil:
		return acked, flushErr
	}
	return acked, nil
}
