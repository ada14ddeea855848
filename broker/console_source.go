package broker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/auth"
	"gregor/broker/console"
	"gregor/controller"
)

// consoleSource gives the console the broker's state: metadata from the
// controller snapshot, offsets and sizes from the open partitions, groups
// and lag from the group coordinator (as the metrics compute them).
// Messages are read with a kgo client against this broker's own listener,
// so any partition of the cluster can be browsed and records are decoded
// (decompressed) exactly as a consumer sees them.
type consoleSource struct {
	self   int32
	cfg    *Config
	ctrl   *controller.Controller
	parts  *partitions
	groups *groups
	remote *remoteHW       // high watermarks of partitions led elsewhere (nil on a single node)
	lns    []boundListener // this broker's client listeners
}

// seed is the listener the message browser's client connects to, and
// its login: with an authenticated HTTP user, a SASL_PLAINTEXT listener
// offering the mechanism the user's password matched, logging in as the
// user (the broker checks the user's READ itself); else the first
// PLAINTEXT listener (as User:ANONYMOUS), else the first listener.
func (c *consoleSource) seed(ctx context.Context) (string, []kgo.Opt) {
	sec := &c.cfg.Security
	u, authed := httpUserOf(ctx)
	open := ""
	for _, l := range c.lns {
		addr := l.Addr().String()
		switch sec.protocol(l.cfg.Name) {
		case protoSaslPlaintext:
			if !authed || !slices.Contains(sec.Mechanisms, u.mech) {
				continue
			}
			switch u.mech {
			case auth.MechanismPlain:
				return addr, []kgo.Opt{kgo.SASL(plain.Auth{User: u.name, Pass: u.password}.AsMechanism())}
			case auth.MechanismScramSHA256:
				return addr, []kgo.Opt{kgo.SASL(scram.Auth{User: u.name, Pass: u.password}.AsSha256Mechanism())}
			case auth.MechanismScramSHA512:
				return addr, []kgo.Opt{kgo.SASL(scram.Auth{User: u.name, Pass: u.password}.AsSha512Mechanism())}
			}
		case protoPlaintext:
			if open == "" {
				open = addr
			}
		}
	}
	if open == "" && len(c.lns) > 0 {
		open = c.lns[0].Addr().String()
	}
	return open, nil
}

func (c *consoleSource) Overview() console.Overview {
	snap := c.ctrl.Snapshot()
	o := console.Overview{ClusterID: snap.ClusterID, NodeID: c.self, ControllerID: snap.ControllerID, Topics: len(snap.Topics), LogDir: c.cfg.Log.Dir}
	for _, b := range snap.Brokers {
		rack := ""
		if b.Rack != nil {
			rack = *b.Rack
		}
		o.Brokers = append(o.Brokers, console.Broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: rack, Fenced: b.Fenced})
	}
	for _, t := range snap.Topics {
		for _, p := range t.Partitions {
			o.Partitions++
			if len(p.ISR) < len(p.Replicas) {
				o.UnderReplicated++
			}
			if p.Leader < 0 {
				o.Offline++
			}
		}
	}
	for _, p := range c.parts.all() {
		o.LogBytes += p.log.Size()
	}
	return o
}

func (c *consoleSource) topic(t *controller.Topic) console.Topic {
	ct := console.Topic{Name: t.Name, Internal: t.Internal, Configs: t.Configs}
	for _, p := range t.Partitions {
		cp := console.Partition{Index: p.Index, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR}
		if lp := c.parts.lookup(t.Name, p.Index); lp != nil {
			cp.Local = true
			cp.Start, cp.End, cp.HW, cp.Size = lp.log.LogStartOffset(), lp.log.LogEndOffset(), lp.log.HighWatermark(), lp.log.Size()
		}
		ct.Partitions = append(ct.Partitions, cp)
	}
	return ct
}

func (c *consoleSource) Topics() []console.Topic {
	snap := c.ctrl.Snapshot()
	var out []console.Topic
	for _, t := range snap.Topics {
		out = append(out, c.topic(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *consoleSource) Topic(name string) (console.Topic, bool) {
	t := c.ctrl.Snapshot().Topic(name)
	if t == nil {
		return console.Topic{}, false
	}
	return c.topic(t), true
}

// Messages reads with a short-lived client: fetches are bounded to 1 MiB
// per partition, so a huge record cannot hold the page or the broker.
func (c *consoleSource) Messages(ctx context.Context, topic string, partition int32, offset, ts int64, n int) ([]console.Message, error) {
	start := kgo.NewOffset().At(offset)
	if ts >= 0 {
		start = kgo.NewOffset().AfterMilli(ts)
	}
	addr, login := c.seed(ctx)
	cl, err := kgo.NewClient(append(login, kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: start}}),
		kgo.FetchMaxPartitionBytes(1<<20), kgo.FetchMaxBytes(1<<20), kgo.FetchMaxWait(500*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []console.Message
	for len(out) < n {
		fs := cl.PollRecords(ctx, n-len(out))
		if ctx.Err() != nil {
			break
		}
		for _, e := range fs.Errors() {
			return out, fmt.Errorf("partition %d: %w", e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			m := console.Message{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, console.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, m)
		})
		if p := c.parts.lookup(topic, partition); p != nil && len(out) > 0 && out[len(out)-1].Offset+1 >= p.log.HighWatermark() {
			break // read up to the high watermark: nothing more to wait for
		}
	}
	return out, nil
}

func (c *consoleSource) group(ctx context.Context, name, state string) console.Group {
	g := console.Group{Name: name, State: state}
	if st, pt, n, ok := groupSummary(ctx, c.groups.coord, name); ok {
		g.State, g.Protocol, g.Members = st, pt, n
	}
	lags, _ := lagOf(ctx, c.groups.coord, c.parts, c.remote, name)
	for _, l := range lags {
		g.Lag = append(g.Lag, console.Lag(l))
	}
	sort.Slice(g.Lag, func(i, j int) bool {
		if g.Lag[i].Topic != g.Lag[j].Topic {
			return g.Lag[i].Topic < g.Lag[j].Topic
		}
		return g.Lag[i].Partition < g.Lag[j].Partition
	})
	return g
}

func (c *consoleSource) Groups(ctx context.Context) []console.Group {
	listed, err := c.groups.coord.ListGroups(ctx, nil)
	if err != nil {
		return nil
	}
	var out []console.Group
	for _, l := range listed {
		out = append(out, c.group(ctx, l.Group, l.State))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *consoleSource) Group(ctx context.Context, name string) (console.Group, bool) {
	listed, err := c.groups.coord.ListGroups(ctx, nil)
	if err != nil {
		return console.Group{}, false
	}
	for _, l := range listed {
		if l.Group == name {
			return c.group(ctx, name, l.State), true
		}
	}
	return console.Group{}, false
}
