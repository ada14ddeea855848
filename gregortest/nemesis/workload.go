package nemesis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// workloads run the clients whose operations make the history. Every
// goroutine is started by start and waited for by stop.
type workloads struct {
	h     *History
	addrs []string
	// clientOpts are the cluster's (TLS and SASL when secured).
	clientOpts []kgo.Opt
	cfg        Config
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stopP      chan struct{} // closed: producers stop producing
	stopC      chan struct{} // closed: consumers stop
	errMu      sync.Mutex
	errs       []error
}

func (w *workloads) fail(err error) {
	w.errMu.Lock()
	w.errs = append(w.errs, err)
	w.errMu.Unlock()
}

func (w *workloads) start() {
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.stopP, w.stopC = make(chan struct{}), make(chan struct{})
	for i := 0; i < w.cfg.Producers; i++ {
		w.goProducer(fmt.Sprintf("p%d", i), w.cfg.Topic, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	w.goProducer("a0", w.cfg.Topic+"-acks1", kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	for i := 0; i < w.cfg.Consumers; i++ {
		w.goConsumer(fmt.Sprintf("c%d", i))
	}
	w.goOffsetReader()
	w.goTxnProducer("t0")
	w.goCommittedReader()
}

// stopProducers stops producing; stop waits for the outstanding produces.
func (w *workloads) stopProducers() {
	close(w.stopP)
}

// stop stops everything and waits for it.
func (w *workloads) stop() {
	select {
	case <-w.stopP:
	default:
		close(w.stopP)
	}
	close(w.stopC)
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.DrainTimeout):
		w.cancel() // outstanding produces complete as info
		<-done
	}
	w.cancel()
}

func (w *workloads) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(slices.Concat(w.clientOpts, []kgo.Opt{kgo.SeedBrokers(w.addrs...), kgo.MetadataMinAge(250 * time.Millisecond)}, opts)...)
}

// goProducer produces <name>-<seq> records at cfg.Rate per second, record
// seq to partition seq modulo the partitions, each one a produce op.
func (w *workloads) goProducer(name, topic string, opts ...kgo.Opt) {
	w.goClient(func(cl *kgo.Client) {
		var pending sync.WaitGroup
		defer pending.Wait()
		tick := time.NewTicker(time.Second / time.Duration(w.cfg.Rate))
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-w.stopP:
				return
			case <-tick.C:
			}
			p := int32(seq % w.cfg.Partitions)
			v := fmt.Sprintf("%s-%d", name, seq)
			start := time.Now()
			pending.Add(1)
			cl.Produce(w.ctx, &kgo.Record{Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer pending.Done()
				op := Op{Process: name, F: "produce", Type: OK, Start: start, End: time.Now(), Topic: topic, Partition: p, Offset: r.Offset, Value: v}
				if err != nil {
					op.Type, op.Offset, op.Err = Info, -1, err.Error()
				}
				w.h.Add(op)
			})
		}
	}, append(opts, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(w.cfg.DeliveryTimeout), kgo.ProducerLinger(5*time.Millisecond))...)
}

// goConsumer is a member of the workload's group: it polls, records what
// it got, commits it and records the commit.
func (w *workloads) goConsumer(name string) {
	w.goClient(func(cl *kgo.Client) {
		for !w.consumersStopped() {
			recs := w.poll(cl, name, "poll", w.cfg.Topic)
			if len(recs) > 0 {
				c := Op{Process: name, F: "commit", Type: OK, Start: time.Now(), Offsets: map[int32]int64{}}
				for _, r := range recs {
					if r.Offset+1 > c.Offsets[r.Partition] {
						c.Offsets[r.Partition] = r.Offset + 1
					}
				}
				ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
				err := cl.CommitRecords(ctx, recs...)
				cancel()
				c.End = time.Now()
				if err != nil {
					c.Type, c.Err = Info, err.Error()
				}
				w.h.Add(c)
			}
			cl.AllowRebalance()
		}
	}, kgo.ConsumerGroup(w.cfg.Topic+"-group"), kgo.ConsumeTopics(w.cfg.Topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.SessionTimeout(10*time.Second))
}

// consumersStopped reports whether the consumers are to stop.
func (w *workloads) consumersStopped() bool {
	select {
	case <-w.stopC:
		return true
	default:
		return false
	}
}

// poll polls for up to a second and records the records it got as an
// op f of process name, if there are any.
func (w *workloads) poll(cl *kgo.Client, name, f, topic string) []*kgo.Record {
	ctx, cancel := context.WithTimeout(w.ctx, time.Second)
	defer cancel()
	op := Op{Process: name, F: f, Type: OK, Start: time.Now(), Topic: topic}
	var recs []*kgo.Record
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		recs = append(recs, r)
		op.Seen = append(op.Seen, Seen{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
	})
	op.End = time.Now()
	if len(op.Seen) > 0 {
		w.h.Add(op)
	}
	return recs
}

// goOffsetReader reads the group's committed offsets every 500ms, each
// read a fetch-offsets op.
func (w *workloads) goOffsetReader() {
	w.goClient(func(cl *kgo.Client) {
		adm := kadm.NewClient(cl)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stopC:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
			op := Op{Process: "offsets", F: "fetch-offsets", Type: OK, Start: time.Now(), Offsets: map[int32]int64{}}
			resp, err := adm.FetchOffsets(ctx, w.cfg.Topic+"-group")
			cancel()
			op.End = time.Now()
			if err == nil {
				err = resp.Error()
			}
			if err != nil {
				op.Type, op.Err = Fail, err.Error()
			} else {
				resp.Each(func(o kadm.OffsetResponse) {
					if o.Topic == w.cfg.Topic && o.At >= 0 {
						op.Offsets[o.Partition] = o.At
					}
				})
			}
			w.h.Add(op)
		}
	})
}

// goClient runs fn on a new client in a goroutine that stop waits for;
// the client is closed when fn returns, allowing a rebalance the group
// consumers' BlockRebalanceOnPoll holds (a plain Close waits for it in
// LeaveGroup forever).
func (w *workloads) goClient(fn func(cl *kgo.Client), opts ...kgo.Opt) {
	cl, err := w.client(opts...)
	if err != nil {
		w.fail(err)
		return
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer cl.CloseAllowingRebalance()
		fn(cl)
	}()
}
