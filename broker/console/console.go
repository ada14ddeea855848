// Package console is the broker's web console: server-rendered pages
// (html/template, assets embedded) over a Source the broker implements.
// Read-only: cluster overview, topics and partitions, a message browser,
// consumer groups with lag and a lag-over-time chart drawn as SVG on the
// server. Pages work without JavaScript; a few lines of it refresh them.
package console

import (
	"context"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// Source is what the console shows; the broker implements it.
type Source interface {
	Overview() Overview
	Topics() []Topic
	Topic(name string) (Topic, bool)
	// Messages reads up to n records of a partition from offset (or from
	// the first record at or after timestamp ms when ts >= 0).
	Messages(ctx context.Context, topic string, partition int32, offset, ts int64, n int) ([]Message, error)
	Groups(ctx context.Context) []Group
	Group(ctx context.Context, name string) (Group, bool)
}

// Access reports whether the request's user may do op on a resource (the
// cluster, a topic, a group), as the broker's ACLs decide. Lists show
// only what the user may DESCRIBE, the message browser needs READ and a
// page of something denied answers 403.
type Access func(r *http.Request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool

// Overview is the cluster at a glance.
type Overview struct {
	ClusterID       string
	NodeID          int32
	ControllerID    int32
	Brokers         []Broker
	Topics          int
	Partitions      int
	UnderReplicated int
	Offline         int
	LogDir          string
	LogBytes        int64
}

// Broker is one registered broker.
type Broker struct {
	ID     int32
	Host   string
	Port   int32
	Rack   string
	Fenced bool
}

// Topic is one topic and its partitions.
type Topic struct {
	Name       string
	Internal   bool
	Partitions []Partition
	Configs    map[string]string
}

// Size is the bytes of the topic's partitions hosted here.
func (t Topic) Size() int64 {
	var n int64
	for _, p := range t.Partitions {
		n += p.Size
	}
	return n
}

// Partition is one partition; offsets and size are known when Local.
type Partition struct {
	Index                int32
	Leader               int32
	Replicas, ISR        []int32
	Local                bool
	Start, End, HW, Size int64
}

// UnderReplicated reports an ISR smaller than the replica set.
func (p Partition) UnderReplicated() bool { return len(p.ISR) < len(p.Replicas) }

// Message is one record, values as fetched (shown as text, JSON or hex).
type Message struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Group is one consumer group and its lag.
type Group struct {
	Name     string
	State    string
	Protocol string
	Members  int
	Lag      []Lag
}

// TotalLag is the sum of the partitions' lag.
func (g Group) TotalLag() int64 {
	var n int64
	for _, l := range g.Lag {
		n += l.Lag
	}
	return n
}

// Lag is a group's position on one partition.
type Lag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	HW        int64  `json:"high_watermark"`
	Lag       int64  `json:"lag"`
}

//go:embed templates/*.html static/*
var assets embed.FS

// maxShown bounds how much of a key or value a page shows.
const maxShown = 4096

// Console serves the pages.
type Console struct {
	src  Source
	may  Access // nil: everything is allowed
	log  zerolog.Logger
	tmpl map[string]*template.Template
	mux  *http.ServeMux

	mu      sync.Mutex
	history map[string][]sample // total lag samples per group, oldest first
}

type sample struct {
	at  time.Time
	lag int64
}

const historyLen = 120

// New returns the console over src; may, if not nil, filters what each
// request sees.
func New(src Source, may Access, log zerolog.Logger) *Console {
	c := &Console{src: src, may: may, log: log, tmpl: map[string]*template.Template{}, mux: http.NewServeMux(), history: map[string][]sample{}}
	funcs := template.FuncMap{"bytes": humanBytes, "show": show, "ids": ids}
	for _, page := range []string{"overview", "topics", "topic", "messages", "groups", "group"} {
		c.tmpl[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+page+".html"))
	}
	c.mux.Handle("GET /static/", http.FileServerFS(assets))
	c.mux.HandleFunc("GET /{$}", c.overview)
	c.mux.HandleFunc("GET /topics", c.topics)
	c.mux.HandleFunc("GET /topics/{name}", c.topic)
	c.mux.HandleFunc("GET /topics/{name}/messages", c.messages)
	c.mux.HandleFunc("GET /groups", c.groups)
	c.mux.HandleFunc("GET /groups/{name}", c.group)
	c.mux.HandleFunc("GET /api/groups/{name}", c.groupJSON)
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

func (c *Console) render(w http.ResponseWriter, page string, data any) {
	var b strings.Builder
	if err := c.tmpl[page].Execute(&b, map[string]any{"Page": page, "D": data}); err != nil {
		c.log.Warn().Err(err).Str("page", page).Msg("console render failed")
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}

// allowed reports whether r may do op on the resource.
func (c *Console) allowed(r *http.Request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return c.may == nil || c.may(r, op, rt, name)
}

// forbidden answers 403 naming what was denied.
func forbidden(w http.ResponseWriter, what string) {
	http.Error(w, "forbidden: not authorized to "+what, http.StatusForbidden)
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	if !c.allowed(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, auth.ClusterName) {
		forbidden(w, "describe the cluster (see /topics and /groups)")
		return
	}
	c.render(w, "overview", c.src.Overview())
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	var out []Topic
	for _, t := range c.src.Topics() {
		if c.allowed(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Name) {
			out = append(out, t)
		}
	}
	c.render(w, "topics", out)
}

// visibleTopic is the topic named in r's path if r may do op on it; else
// it has answered 404 or 403. A denied topic answers 403 whether or not
// it exists, so that names cannot be probed.
func (c *Console) visibleTopic(w http.ResponseWriter, r *http.Request, op kmsg.ACLOperation) (Topic, bool) {
	name := r.PathValue("name")
	if !c.allowed(r, op, kmsg.ACLResourceTypeTopic, name) {
		forbidden(w, strings.ToLower(op.String())+" topic "+name)
		return Topic{}, false
	}
	t, ok := c.src.Topic(name)
	if !ok {
		http.NotFound(w, r)
	}
	return t, ok
}

func (c *Console) topic(w http.ResponseWriter, r *http.Request) {
	t, ok := c.visibleTopic(w, r, kmsg.ACLOperationDescribe)
	if !ok {
		return
	}
	if !c.allowed(r, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, t.Name) {
		t.Configs = nil
	}
	c.render(w, "topic", t)
}

func (c *Console) messages(w http.ResponseWriter, r *http.Request) {
	t, ok := c.visibleTopic(w, r, kmsg.ACLOperationRead)
	if !ok {
		return
	}
	q := r.URL.Query()
	part, _ := strconv.ParseInt(q.Get("partition"), 10, 32)
	off, err := strconv.ParseInt(q.Get("offset"), 10, 64)
	if err != nil {
		off = 0
	}
	ts := int64(-1)
	if v := q.Get("timestamp"); v != "" {
		if t, err := time.Parse("2006-01-02T15:04", v); err == nil {
			ts = t.UnixMilli()
		} else if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			ts = n
		}
	}
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n <= 0 || n > 100 {
		n = 20
	}
	format := q.Get("format")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	msgs, merr := c.src.Messages(ctx, t.Name, int32(part), off, ts, n)
	errText := ""
	if merr != nil {
		errText = merr.Error()
	}
	c.render(w, "messages", map[string]any{"Topic": t, "Partition": part, "Offset": off, "N": n, "Format": format,
		"Timestamp": q.Get("timestamp"), "Messages": msgs, "Error": errText})
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	var out []Group
	for _, g := range c.src.Groups(r.Context()) {
		if c.allowed(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.Name) {
			out = append(out, c.visibleLag(r, g))
		}
	}
	c.render(w, "groups", out)
}

// visibleLag keeps the lag of the topics r may describe, as OffsetFetch
// does.
func (c *Console) visibleLag(r *http.Request, g Group) Group {
	if c.may == nil {
		return g
	}
	lag := g.Lag[:0:0]
	for _, l := range g.Lag {
		if c.allowed(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, l.Topic) {
			lag = append(lag, l)
		}
	}
	g.Lag = lag
	return g
}

// groupWithHistory reads a group and records its total lag; it answers
// 404 or 403 itself.
func (c *Console) groupWithHistory(w http.ResponseWriter, r *http.Request) (Group, []sample, bool) {
	name := r.PathValue("name")
	if !c.allowed(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, name) {
		forbidden(w, "describe group "+name)
		return Group{}, nil, false
	}
	g, ok := c.src.Group(r.Context(), name)
	if !ok {
		http.NotFound(w, r)
		return g, nil, false
	}
	g = c.visibleLag(r, g)
	c.mu.Lock()
	h := append(c.history[g.Name], sample{time.Now(), g.TotalLag()})
	if len(h) > historyLen {
		h = h[len(h)-historyLen:]
	}
	c.history[g.Name] = h
	hist := append([]sample(nil), h...)
	c.mu.Unlock()
	return g, hist, true
}

func (c *Console) group(w http.ResponseWriter, r *http.Request) {
	g, hist, ok := c.groupWithHistory(w, r)
	if !ok {
		return
	}
	c.render(w, "group", map[string]any{"Group": g, "Chart": lagChart(hist)})
}

func (c *Console) groupJSON(w http.ResponseWriter, r *http.Request) {
	g, _, ok := c.groupWithHistory(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"group": g.Name, "state": g.State, "members": g.Members, "total_lag": g.TotalLag(), "partitions": g.Lag})
}

// lagChart draws total lag over time as an SVG polyline.
func lagChart(h []sample) template.HTML {
	const w, ht, pad = 600.0, 160.0, 30.0
	var maxLag int64 = 1
	for _, s := range h {
		maxLag = max(maxLag, s.lag)
	}
	var pts []string
	for i, s := range h {
		x := pad
		if len(h) > 1 {
			x = pad + float64(i)*(w-2*pad)/float64(len(h)-1)
		}
		y := ht - pad - float64(s.lag)*(ht-2*pad)/float64(maxLag)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	last := int64(0)
	if len(h) > 0 {
		last = h[len(h)-1].lag
	}
	return template.HTML(fmt.Sprintf(`<svg id="lag-chart" class="chart" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="total lag over time">`+
		`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="axis"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="axis"/>`+
		`<text x="2" y="%.0f">%d</text><text x="2" y="%.0f">0</text><text x="%.0f" y="%.0f">samples: %d, now %d</text>`+
		`<polyline class="line" points="%s"/></svg>`,
		w, ht, w, ht, pad, pad, pad, ht-pad, pad, ht-pad, w-pad, ht-pad,
		pad, maxLag, ht-pad, w/2-60, ht-8, len(h), last, strings.Join(pts, " ")))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// show renders bytes as text, pretty JSON or hex, cut at maxShown.
func show(b []byte, format string) string {
	if b == nil {
		return "(null)"
	}
	cut := ""
	if len(b) > maxShown {
		b, cut = b[:maxShown], fmt.Sprintf(" … (%d bytes shown)", maxShown)
	}
	switch format {
	case "hex":
		return hex.Dump(b) + cut
	case "json":
		var v any
		if json.Unmarshal(b, &v) == nil {
			out, _ := json.MarshalIndent(v, "", "  ")
			return string(out) + cut
		}
	}
	if !utf8.Valid(b) {
		return hex.Dump(b) + cut
	}
	return string(b) + cut
}

func ids(v []int32) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(int(n))
	}
	return strings.Join(s, ",")
}
