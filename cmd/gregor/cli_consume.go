package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func (c *cli) consumeCmd() *cobra.Command {
	var (
		from       string
		n          int
		group      string
		format     string
		partitions []int32
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "print records of a topic (with or without a consumer group)",
		Long: `Print the records of TOPIC, one per line, until -n records or an interrupt.

--from: beginning, end, OFFSET (in every partition) or @TIMESTAMP_MS (the first
record at or after it). With -g GROUP the group's committed offsets win and
--from applies where it has none; printed records are committed.

-f FORMAT (kcat-like): %t topic, %p partition, %o offset, %k key, %v value,
%h headers (k=v,k=v), %T timestamp (ms), %K key length, %S value length,
%% percent; \n \t \r \\ escapes. The default is "%v\n".
--format json prints one JSON object per record instead.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			off, err := parseFrom(from)
			if err != nil {
				return err
			}
			if format == "" {
				format = `%v\n`
			}
			pr, err := newRecordPrinter(format)
			if err != nil {
				return err
			}
			if group != "" && len(partitions) > 0 {
				return usageErrorf("consume: -g and --partition do not go together")
			}
			opts := []kgo.Opt{kgo.FetchMaxWait(defaultFetchWait)}
			switch {
			case group != "":
				opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(off), kgo.DisableAutoCommit())
			case len(partitions) > 0:
				ps := map[int32]kgo.Offset{}
				for _, p := range partitions {
					ps[p] = off
				}
				opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: ps}))
			default:
				opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(off))
			}
			cl, err := c.client(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := c.requireTopic(cmd.Context(), cl, topic); err != nil {
				return err
			}
			w := bufio.NewWriter(c.stdout)
			defer w.Flush()
			enc := json.NewEncoder(w)
			printed := 0
			ctx := cmd.Context()
			for n <= 0 || printed < n {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil || fs.IsClientClosed() {
					return nil // interrupted: a normal end
				}
				var ferr error
				fs.EachError(func(t string, p int32, err error) {
					if ferr == nil && !errors.Is(err, context.Canceled) {
						ferr = fmt.Errorf("topic %s partition %d: %w", t, p, err)
					}
				})
				if ferr != nil {
					return ferr
				}
				var recs []*kgo.Record
				fs.EachRecord(func(r *kgo.Record) {
					if n > 0 && printed >= n {
						return
					}
					printed++
					recs = append(recs, r)
					if c.json() {
						_ = enc.Encode(jsonRecord(r))
					} else {
						pr.print(w, r)
					}
				})
				if err := w.Flush(); err != nil {
					return err
				}
				if group != "" && len(recs) > 0 {
					cctx, cancel := c.reqCtx(context.WithoutCancel(ctx))
					err := cl.CommitRecords(cctx, recs...)
					cancel()
					if err != nil {
						return fmt.Errorf("commit: %w", err)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "end", "where to start: beginning, end, OFFSET or @TIMESTAMP_MS")
	cmd.Flags().IntVarP(&n, "num", "n", 0, "exit after N records (default: follow until interrupted)")
	cmd.Flags().StringVarP(&group, "group", "g", "", "consume in this consumer group and commit what is printed")
	cmd.Flags().StringVarP(&format, "fmt", "f", "", `kcat-like record format (default "%v\n")`)
	cmd.Flags().Int32SliceVarP(&partitions, "partition", "p", nil, "only these partitions (without -g)")
	return cmd
}

// defaultFetchWait is how long a fetch waits at the broker for data.
const defaultFetchWait = 500 * time.Millisecond

// parseFrom turns --from into a kgo offset.
func parseFrom(s string) (kgo.Offset, error) {
	switch {
	case s == "beginning" || s == "start" || s == "earliest":
		return kgo.NewOffset().AtStart(), nil
	case s == "end" || s == "latest":
		return kgo.NewOffset().AtEnd(), nil
	case strings.HasPrefix(s, "@"):
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return kgo.Offset{}, usageErrorf("--from: %q is not @TIMESTAMP_MS", s)
		}
		return kgo.NewOffset().AfterMilli(ms), nil
	default:
		o, err := strconv.ParseInt(s, 10, 64)
		if err != nil || o < 0 {
			return kgo.Offset{}, usageErrorf("--from: %q is not beginning, end, OFFSET or @TIMESTAMP_MS", s)
		}
		return kgo.NewOffset().At(o), nil
	}
}

type recordJSON struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []headerJSON `json:"headers,omitempty"`
}

type headerJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func jsonRecord(r *kgo.Record) recordJSON {
	out := recordJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	if r.Key != nil {
		k := string(r.Key)
		out.Key = &k
	}
	if r.Value != nil {
		v := string(r.Value)
		out.Value = &v
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, headerJSON{h.Key, string(h.Value)})
	}
	return out
}

// recordPrinter prints records by a parsed -f format: literal text and
// field verbs.
type recordPrinter struct {
	parts []fmtPart
}

type fmtPart struct {
	lit  string
	verb byte // 0 for a literal
}

func newRecordPrinter(f string) (*recordPrinter, error) {
	parts, err := parseFormat(f, "tpokvhTKS")
	if err != nil {
		return nil, err
	}
	return &recordPrinter{parts: parts}, nil
}

// parseFormat splits a kcat-like -f format into literal text (with the
// escapes \n \t \r \\ and %%) and the verbs allowed.
func parseFormat(f, verbs string) ([]fmtPart, error) {
	var parts []fmtPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, fmtPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(f); i++ {
		ch := f[i]
		switch {
		case ch == '\\' && i+1 < len(f):
			i++
			switch f[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(f[i])
			}
		case ch == '%' && i+1 < len(f):
			i++
			v := f[i]
			switch {
			case v == '%':
				lit.WriteByte('%')
			case strings.IndexByte(verbs, v) >= 0:
				flush()
				parts = append(parts, fmtPart{verb: v})
			default:
				var have []string
				for _, v := range []byte(verbs) {
					have = append(have, "%"+string(v))
				}
				return nil, usageErrorf("-f: unknown verb %%%c (have %s %%%%)", v, strings.Join(have, " "))
			}
		case ch == '%':
			return nil, usageErrorf("-f: a lone %% at the end")
		default:
			lit.WriteByte(ch)
		}
	}
	flush()
	return parts, nil
}

func (p *recordPrinter) print(w io.Writer, r *kgo.Record) {
	for _, part := range p.parts {
		switch part.verb {
		case 0:
			io.WriteString(w, part.lit)
		case 't':
			io.WriteString(w, r.Topic)
		case 'p':
			io.WriteString(w, strconv.Itoa(int(r.Partition)))
		case 'o':
			io.WriteString(w, strconv.FormatInt(r.Offset, 10))
		case 'k':
			w.Write(r.Key)
		case 'v':
			w.Write(r.Value)
		case 'T':
			io.WriteString(w, strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 'K':
			io.WriteString(w, strconv.Itoa(len(r.Key)))
		case 'S':
			io.WriteString(w, strconv.Itoa(len(r.Value)))
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					io.WriteString(w, ",")
				}
				io.WriteString(w, h.Key+"=")
				w.Write(h.Value)
			}
		}
	}
}
