package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceVerbs are the fields a produce -f format can read: topic,
// partition, key, value, headers (k=v,k=v), timestamp (ms) and the byte
// lengths of the key (%K) and value (%S) that make the next %k or %v read
// exactly that many bytes (binary data, newlines included; -1 is null).
const produceVerbs = "tpkvhTKS"

// recordReader reads records from a stream by a parsed produce -f format:
// each literal must appear in the input as written, each unsized field
// runs up to the literal after it.
type recordReader struct {
	parts []fmtPart
	in    *bufio.Reader
	n     int64 // records read, for error messages
}

func newRecordReader(f string, in io.Reader) (*recordReader, error) {
	parts, err := parseFormat(f, produceVerbs)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, usageErrorf("-f: an empty format")
	}
	// sized: a %K or %S waits for its %k or %v, which then reads by length.
	sized := map[byte]bool{}
	fields := 0
	for i, p := range parts {
		if p.verb == 0 {
			continue
		}
		fields++
		switch p.verb {
		case 'K':
			sized['k'] = true
		case 'S':
			sized['v'] = true
		}
		if sized[p.verb] {
			sized[p.verb] = false
			continue
		}
		if i+1 == len(parts) || parts[i+1].verb != 0 {
			return nil, usageErrorf("-f: %%%c must be followed by a delimiter", p.verb)
		}
	}
	if sized['k'] || sized['v'] {
		return nil, usageErrorf("-f: %%K needs a %%k after it and %%S a %%v")
	}
	if fields == 0 {
		return nil, usageErrorf("-f: %q reads no field", f)
	}
	return &recordReader{parts: parts, in: bufio.NewReaderSize(in, 64<<10)}, nil
}

// has tells whether the format reads verb.
func (rr *recordReader) has(verb byte) bool {
	for _, p := range rr.parts {
		if p.verb == verb {
			return true
		}
	}
	return false
}

// errFormat is an input that does not match the format.
var errFormat = errors.New("input does not match -f")

// next reads one record; io.EOF when the input ends between records.
func (rr *recordReader) next() (*kgo.Record, error) {
	if _, err := rr.in.Peek(1); err == io.EOF {
		return nil, io.EOF
	}
	rr.n++
	r := &kgo.Record{}
	keyLen, valLen := -2, -2 // -2: not sized
	for i, p := range rr.parts {
		if p.verb == 0 {
			if err := rr.expect(p.lit, i == len(rr.parts)-1); err != nil {
				return nil, err
			}
			continue
		}
		// A sized %k or %v reads by length, every other field up to the
		// literal after it.
		var field []byte
		var err error
		switch {
		case p.verb == 'k' && keyLen != -2:
			field, err = rr.readN(keyLen)
			keyLen = -2
		case p.verb == 'v' && valLen != -2:
			field, err = rr.readN(valLen)
			valLen = -2
		default:
			field, err = rr.readUntil(rr.parts[i+1].lit, i+1 == len(rr.parts)-1)
		}
		if err != nil {
			return nil, err
		}
		switch p.verb {
		case 't':
			if len(field) == 0 {
				return nil, rr.errorf("an empty topic for %%t")
			}
			r.Topic = string(field)
		case 'p':
			n, err := strconv.ParseInt(string(field), 10, 32)
			if err != nil || n < 0 {
				return nil, rr.errorf("%%p: %q is not a partition", field)
			}
			r.Partition = int32(n)
		case 'k':
			r.Key = field
		case 'v':
			r.Value = field
		case 'T':
			ms, err := strconv.ParseInt(string(field), 10, 64)
			if err != nil || ms < 0 {
				return nil, rr.errorf("%%T: %q is not a timestamp in milliseconds", field)
			}
			r.Timestamp = time.UnixMilli(ms)
		case 'h':
			if len(field) == 0 {
				continue
			}
			for _, kv := range strings.Split(string(field), ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, rr.errorf("%%h: %q is not key=value", kv)
				}
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
		case 'K', 'S':
			n, err := strconv.Atoi(string(field))
			if err != nil || n < -1 || n > 1<<30 {
				return nil, rr.errorf("%%%c: %q is not a length", p.verb, field)
			}
			if p.verb == 'K' {
				keyLen = n
			} else {
				valLen = n
			}
		}
	}
	return r, nil
}

func (rr *recordReader) errorf(format string, args ...any) error {
	return fmt.Errorf("record %d: %w: %s", rr.n, errFormat, fmt.Sprintf(format, args...))
}

// expect consumes lit; the input may end instead of the format's last
// literal (a last line without its newline).
func (rr *recordReader) expect(lit string, last bool) error {
	b, err := rr.in.Peek(len(lit))
	if string(b) == lit {
		_, _ = rr.in.Discard(len(lit))
		return nil
	}
	if err == io.EOF && len(b) == 0 && last {
		return nil
	}
	if err == io.EOF {
		return rr.errorf("the input ends where %q was expected", lit)
	}
	return rr.errorf("%q where %q was expected", b, lit)
}

// readUntil reads up to delim and leaves delim in the input; the input
// may end instead when delim is the format's last literal.
func (rr *recordReader) readUntil(delim string, last bool) ([]byte, error) {
	var out []byte
	d := delim[0]
	for {
		chunk, err := rr.in.ReadSlice(d)
		out = append(out, chunk...)
		if err == bufio.ErrBufferFull {
			if len(out) > 16<<20 {
				return nil, rr.errorf("a field longer than 16 MiB without %q", delim)
			}
			continue
		}
		if err == io.EOF {
			if last {
				return out, nil
			}
			return nil, rr.errorf("the input ends before %q", delim)
		}
		if err != nil {
			return nil, err
		}
		// out ends with delim[0]: put it back and check the whole delim.
		out = out[:len(out)-1]
		if err := rr.in.UnreadByte(); err != nil {
			return nil, err
		}
		b, _ := rr.in.Peek(len(delim))
		if string(b) == delim {
			return out, nil
		}
		if bytes.HasPrefix([]byte(delim), b) && len(b) < len(delim) {
			// The input ends inside what may be delim.
			if !last {
				return nil, rr.errorf("the input ends before %q", delim)
			}
			rest, _ := io.ReadAll(rr.in)
			return append(out, rest...), nil
		}
		c, _ := rr.in.ReadByte()
		out = append(out, c)
	}
}

// readN reads exactly n bytes (n -1: a null field).
func (rr *recordReader) readN(n int) ([]byte, error) {
	if n == -1 {
		return nil, nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rr.in, b); err != nil {
		return nil, rr.errorf("the input ends inside a field of %d bytes", n)
	}
	return b, nil
}
