package controller

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hcLogger adapts a zerolog.Logger to the hclog.Logger that Raft logs
// through. Raft's key/value pairs become zerolog fields.
type hcLogger struct {
	z    zerolog.Logger
	name string
	args []any
}

func newHCLogger(z zerolog.Logger) hclog.Logger { return &hcLogger{z: z} }

func (h *hcLogger) event(level hclog.Level) *zerolog.Event {
	switch level {
	case hclog.Trace:
		return h.z.Trace()
	case hclog.Debug:
		return h.z.Debug()
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return h.z.Info()
	case hclog.Warn:
		return h.z.Warn()
	default:
		return h.z.Error()
	}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	e := h.event(level)
	if e == nil {
		return
	}
	if h.name != "" {
		e = e.Str("logger", h.name)
	}
	all := append(h.args[:len(h.args):len(h.args)], args...)
	for i := 0; i+1 < len(all); i += 2 {
		k := fmt.Sprint(all[i])
		if k == "time" || k == "level" || k == "message" {
			k = "raft_" + k // keep zerolog's own fields unique
		}
		switch v := all[i+1].(type) {
		case error:
			e = e.AnErr(k, v)
		case hclog.Format: // hclog.Fmt("%+v", x): format it now
			if len(v) > 0 {
				if f, ok := v[0].(string); ok {
					e = e.Str(k, fmt.Sprintf(f, v[1:]...))
					break
				}
			}
			e = e.Str(k, fmt.Sprint(v...))
		default:
			e = e.Interface(k, v)
		}
	}
	e.Msg(msg)
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(level hclog.Level) bool {
	e := h.event(level)
	if e == nil {
		return false
	}
	e.Discard()
	return true
}

func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hcLogger) ImpliedArgs() []any { return h.args }

func (h *hcLogger) With(args ...any) hclog.Logger {
	n := *h
	n.args = append(h.args[:len(h.args):len(h.args)], args...)
	return &n
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	n := *h
	if n.name != "" {
		name = n.name + "." + name
	}
	n.name = name
	return &n
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	n := *h
	n.name = name
	return &n
}

func (h *hcLogger) SetLevel(hclog.Level) {}

func (h *hcLogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hcLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return lineWriter{h} }

type lineWriter struct{ h *hcLogger }

func (w lineWriter) Write(p []byte) (int, error) {
	w.h.Info(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
