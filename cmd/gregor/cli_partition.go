package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *cli) partitionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "partition", Short: "move partitions between brokers (reassignments)", RunE: parentRun}
	cmd.AddCommand(c.partitionPlanCmd(), c.partitionMoveCmd(), c.partitionVerifyCmd(), c.partitionReassignmentsCmd())
	return cmd
}

// moveTarget is one partition to move (nil Replicas: cancel its move);
// LogDirs, if given, names each replica's log dir ("any": the broker
// chooses).
type moveTarget struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// tpKey names one partition.
type tpKey struct {
	Topic     string
	Partition int32
}

// reassignmentFile is kafka-reassign-partitions.sh's JSON format.
type reassignmentFile struct {
	Version    int          `json:"version"`
	Partitions []moveTarget `json:"partitions"`
}

// parseMoveArg parses TOPIC:PARTITION=BROKER,BROKER,... (cancel: only
// TOPIC:PARTITION). Topic names cannot hold ':' or '='.
func parseMoveArg(s string, cancel bool) (moveTarget, error) {
	tpart, brokers, hasBrokers := strings.Cut(s, "=")
	i := strings.LastIndexByte(tpart, ':')
	if i <= 0 {
		return moveTarget{}, usageErrorf("%q: want TOPIC:PARTITION=BROKER,BROKER,...", s)
	}
	p, err := strconv.ParseInt(tpart[i+1:], 10, 32)
	if err != nil || p < 0 {
		return moveTarget{}, usageErrorf("%q: bad partition %q", s, tpart[i+1:])
	}
	mt := moveTarget{Topic: tpart[:i], Partition: int32(p)}
	switch {
	case cancel && hasBrokers:
		return moveTarget{}, usageErrorf("%q: --cancel takes TOPIC:PARTITION without brokers", s)
	case cancel:
		return mt, nil
	case !hasBrokers || brokers == "":
		return moveTarget{}, usageErrorf("%q: want TOPIC:PARTITION=BROKER,BROKER,...", s)
	}
	for _, b := range strings.Split(brokers, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
		if err != nil {
			return moveTarget{}, usageErrorf("%q: bad broker id %q", s, b)
		}
		mt.Replicas = append(mt.Replicas, int32(id))
	}
	return mt, nil
}

// fileFlag returns which of names (flags bound to one variable) was
// given, as --NAME (none: --names[0]); more than one is a usage error.
func fileFlag(cmd *cobra.Command, names ...string) (string, error) {
	flag := "--" + names[0]
	n := 0
	for _, f := range names {
		if cmd.Flags().Changed(f) {
			flag = "--" + f
			n++
		}
	}
	if n > 1 {
		return "", usageErrorf("give only one of --%s", strings.Join(names, ", --"))
	}
	return flag, nil
}

// readMoveFile reads a kafka-reassign-partitions.sh reassignment file
// (given with flag).
func readMoveFile(flag, path string, cancel bool) ([]moveTarget, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("%s: %v", flag, err)
	}
	var f reassignmentFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, usageErrorf("%s %s: %v", flag, path, err)
	}
	if f.Version != 0 && f.Version != 1 {
		return nil, usageErrorf("%s %s: unsupported version %d", flag, path, f.Version)
	}
	seen := map[tpKey]bool{}
	for i, p := range f.Partitions {
		k := tpKey{Topic: p.Topic, Partition: p.Partition}
		switch {
		case p.Topic == "" || p.Partition < 0:
			return nil, usageErrorf("%s %s: partition entry %d needs a topic and a partition", flag, path, i)
		case seen[k]:
			return nil, usageErrorf("%s %s: %s:%d appears twice", flag, path, p.Topic, p.Partition)
		case cancel:
			f.Partitions[i].Replicas, f.Partitions[i].LogDirs = nil, nil
		case len(p.Replicas) == 0:
			return nil, usageErrorf("%s %s: %s:%d has no replicas", flag, path, p.Topic, p.Partition)
		case len(p.LogDirs) != 0 && len(p.LogDirs) != len(p.Replicas):
			return nil, usageErrorf("%s %s: %s:%d has %d log_dirs for %d replicas", flag, path, p.Topic, p.Partition, len(p.LogDirs), len(p.Replicas))
		}
		for _, d := range p.LogDirs {
			if d != "any" && !filepath.IsAbs(d) {
				return nil, usageErrorf("%s %s: %s:%d: log dir %q is neither \"any\" nor an absolute path", flag, path, p.Topic, p.Partition, d)
			}
		}
		seen[k] = true
	}
	return f.Partitions, nil
}

type moveOut struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas,omitempty"`
	ISR       []int32 `json:"isr,omitempty"`
	Adding    []int32 `json:"adding,omitempty"`
	Removing  []int32 `json:"removing,omitempty"`
	Done      bool    `json:"done"`
	Error     string  `json:"error,omitempty"`
}

func (c *cli) partitionMoveCmd() *cobra.Command {
	var file string
	var cancel, noWait bool
	var poll time.Duration
	var throttle int64
	cmd := &cobra.Command{
		Use:   "move TOPIC:PARTITION=BROKER,BROKER,... | --file FILE | --plan FILE",
		Short: "move partitions onto brokers (AlterPartitionReassignments) and follow until done; --cancel reverts",
		Long: "Moves each partition onto the brokers listed (the first is its preferred leader): the new brokers\n" +
			"replicate it as followers, and once all are in sync the brokers left out are dropped. --file takes\n" +
			"kafka-reassign-partitions.sh's JSON ({\"version\":1,\"partitions\":[{\"topic\":..,\"partition\":..,\"replicas\":[..]}]}),\n" +
			"such as the proposal of `gregor partition plan` (--plan and --reassignment-json-file are the same flag);\n" +
			"log_dirs other than \"any\" move those replicas to that log dir of their broker (AlterReplicaLogDirs).\n" +
			"The command then follows the moves until they are done (--no-wait: return at once).\n" +
			"--cancel TOPIC:PARTITION... (or --cancel --file FILE) reverts moves in progress.\n" +
			"--throttle BYTES/S limits the replication of the moved partitions as kafka-reassign-partitions.sh's\n" +
			"--throttle does (leader/follower.replication.throttled.rate on the brokers involved,\n" +
			"leader/follower.replication.throttled.replicas on the topics); following removes them once done.",
		RunE: func(cmd *cobra.Command, args []string) error {
			var targets []moveTarget
			flag, err := fileFlag(cmd, "file", "plan", "reassignment-json-file")
			if err != nil {
				return err
			}
			if file != "" {
				if len(args) > 0 {
					return usageErrorf("give partitions as arguments or %s, not both", flag)
				}
				t, err := readMoveFile(flag, file, cancel)
				if err != nil {
					return err
				}
				targets = t
			}
			for _, a := range args {
				t, err := parseMoveArg(a, cancel)
				if err != nil {
					return err
				}
				targets = append(targets, t)
			}
			if len(targets) == 0 {
				return usageErrorf("%s: no partitions given", cmd.CommandPath())
			}
			cl, err := c.client(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			if throttle > 0 && cancel {
				return usageErrorf("--throttle does not go with --cancel")
			}
			var req kadm.AlterPartitionAssignmentsReq
			for _, t := range targets {
				req.Assign(t.Topic, t.Partition, t.Replicas)
			}
			var th *moveThrottle
			if throttle > 0 {
				if th, err = c.setMoveThrottle(cmd.Context(), cl, targets, throttle); err != nil {
					return err
				}
			}
			ctx, stop := c.reqCtx(cmd.Context())
			resp, err := kadm.NewClient(cl).AlterPartitionAssignments(ctx, req)
			stop()
			if err != nil {
				return err
			}
			var failed error
			if !cancel {
				failed = c.moveLogDirs(cmd.Context(), cl, targets, resp)
			}
			outs := map[tpKey]*moveOut{}
			var order []tpKey
			for _, r := range resp.Sorted() {
				k := tpKey{Topic: r.Topic, Partition: r.Partition}
				o := &moveOut{Topic: r.Topic, Partition: r.Partition}
				if r.Err != nil {
					o.Error = errText(r.Err, r.ErrMessage)
					failed = fmt.Errorf("%s:%d: %s", r.Topic, r.Partition, o.Error)
					if !c.json() {
						fmt.Fprintf(c.stderr, "%s:%d: %s\n", r.Topic, r.Partition, o.Error)
					}
				} else {
					order = append(order, k)
				}
				outs[k] = o
			}
			if !c.json() {
				for _, k := range order {
					verb := "moving"
					if cancel {
						verb = "cancelled the move of"
					}
					fmt.Fprintf(c.stdout, "%s %s:%d\n", verb, k.Topic, k.Partition)
				}
			}
			if !noWait && !cancel && len(order) > 0 {
				want := map[tpKey][]int32{}
				for _, t := range targets {
					want[tpKey{t.Topic, t.Partition}] = t.Replicas
				}
				if err := c.followMoves(cmd.Context(), cl, order, want, outs, poll); err != nil {
					return err
				}
				if th != nil {
					if err := c.clearMoveThrottle(cmd.Context(), cl, th); err != nil {
						return err
					}
				}
			} else if th != nil && !c.json() {
				fmt.Fprintln(c.stdout, "the replication throttle stays until removed (follow the move without --no-wait to remove it when done)")
			}
			if c.json() {
				all := make([]*moveOut, 0, len(outs))
				for _, r := range resp.Sorted() {
					all = append(all, outs[tpKey{Topic: r.Topic, Partition: r.Partition}])
				}
				if err := c.writeJSON(all); err != nil {
					return err
				}
			}
			return failed
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "reassignment JSON file (kafka-reassign-partitions.sh format)")
	cmd.Flags().StringVar(&file, "plan", "", "the same as --file (a plan from `gregor partition plan`)")
	cmd.Flags().StringVar(&file, "reassignment-json-file", "", "the same as --file (kafka-reassign-partitions.sh's name)")
	cmd.Flags().BoolVar(&cancel, "cancel", false, "cancel the moves of the partitions named (TOPIC:PARTITION)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the moves started, without following them")
	cmd.Flags().DurationVar(&poll, "poll", 500*time.Millisecond, "how often to check progress while following")
	cmd.Flags().Int64Var(&throttle, "throttle", 0, "replication throttle of the moves in bytes/s (0: none)")
	return cmd
}

// moveThrottle is what --throttle set: the rates on brokers, the
// throttled-replica lists on topics.
type moveThrottle struct {
	brokers []int32
	topics  []string
}

// setMoveThrottle throttles the moves as kafka-reassign-partitions.sh
// does: both rates on every broker holding or getting a moved replica;
// per topic, the leader list names the current replicas of the moved
// partitions (any may lead) and the follower list the new ones.
func (c *cli) setMoveThrottle(ctx context.Context, cl *kgo.Client, targets []moveTarget, rate int64) (*moveThrottle, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	adm := kadm.NewClient(cl)
	var topics []string
	for _, t := range targets {
		if !slices.Contains(topics, t.Topic) {
			topics = append(topics, t.Topic)
		}
	}
	tds, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	th := &moveThrottle{}
	leader, follower := map[string][]string{}, map[string][]string{}
	for _, t := range targets {
		td, ok := tds[t.Topic]
		if !ok || td.Err != nil {
			continue // AlterPartitionReassignments reports it
		}
		pd, ok := td.Partitions[t.Partition]
		if !ok {
			continue
		}
		for _, b := range pd.Replicas {
			leader[t.Topic] = append(leader[t.Topic], fmt.Sprintf("%d:%d", t.Partition, b))
		}
		for _, b := range t.Replicas {
			if !slices.Contains(pd.Replicas, b) {
				follower[t.Topic] = append(follower[t.Topic], fmt.Sprintf("%d:%d", t.Partition, b))
			}
		}
		for _, b := range slices.Concat(pd.Replicas, t.Replicas) {
			if !slices.Contains(th.brokers, b) {
				th.brokers = append(th.brokers, b)
			}
		}
	}
	for _, topic := range topics {
		if len(leader[topic]) == 0 {
			continue
		}
		cfgs := []kadm.AlterConfig{{Name: "leader.replication.throttled.replicas", Value: kadm.StringPtr(strings.Join(leader[topic], ","))}}
		if len(follower[topic]) > 0 {
			cfgs = append(cfgs, kadm.AlterConfig{Name: "follower.replication.throttled.replicas", Value: kadm.StringPtr(strings.Join(follower[topic], ","))})
		}
		res, err := adm.AlterTopicConfigs(ctx, cfgs, topic)
		if err == nil {
			err = alterConfigsErr(res)
		}
		if err != nil {
			return nil, fmt.Errorf("throttle %s: %w", topic, err)
		}
		th.topics = append(th.topics, topic)
	}
	v := kadm.StringPtr(strconv.FormatInt(rate, 10))
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "leader.replication.throttled.rate", Value: v},
		{Name: "follower.replication.throttled.rate", Value: v}}, th.brokers...)
	if err == nil {
		err = alterConfigsErr(res)
	}
	if err != nil {
		return nil, fmt.Errorf("throttle brokers %v: %w", th.brokers, err)
	}
	if !c.json() {
		fmt.Fprintf(c.stdout, "throttling replication at %d bytes/s on brokers %s\n", rate, ints(th.brokers))
	}
	return th, nil
}

// clearMoveThrottle removes what setMoveThrottle set.
func (c *cli) clearMoveThrottle(ctx context.Context, cl *kgo.Client, th *moveThrottle) error {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	adm := kadm.NewClient(cl)
	if len(th.topics) > 0 {
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "leader.replication.throttled.replicas"},
			{Op: kadm.DeleteConfig, Name: "follower.replication.throttled.replicas"}}, th.topics...)
		if err == nil {
			err = alterConfigsErr(res)
		}
		if err != nil {
			return fmt.Errorf("remove throttle: %w", err)
		}
	}
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "leader.replication.throttled.rate"},
		{Op: kadm.DeleteConfig, Name: "follower.replication.throttled.rate"}}, th.brokers...)
	if err == nil {
		err = alterConfigsErr(res)
	}
	if err != nil {
		return fmt.Errorf("remove throttle: %w", err)
	}
	if !c.json() {
		fmt.Fprintln(c.stdout, "replication throttle removed")
	}
	return nil
}

// partitionState is one partition's replicas and ISR (Metadata) and its
// reassignment (ListPartitionReassignments; nil adding/removing: none).
type partitionState struct {
	replicas, isr, adding, removing []int32
	inProgress                      bool
}

// reassignmentStates asks for the reassignments and metadata of the
// given topics (nil: every reassignment, no metadata).
func (c *cli) reassignmentStates(ctx context.Context, cl *kgo.Client, topics []string) (map[tpKey]partitionState, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	lreq := kmsg.NewPtrListPartitionReassignmentsRequest()
	lreq.TimeoutMillis = int32(c.timeout.Milliseconds())
	if topics != nil {
		lreq.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{}
	}
	states := map[tpKey]partitionState{}
	if len(topics) > 0 {
		mreq := kmsg.NewPtrMetadataRequest()
		for _, t := range topics {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(t)
			mreq.Topics = append(mreq.Topics, mt)
		}
		mresp, err := mreq.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		for _, t := range mresp.Topics {
			if t.Topic == nil || t.ErrorCode != 0 {
				continue
			}
			lt := kmsg.NewListPartitionReassignmentsRequestTopic()
			lt.Topic = *t.Topic
			for _, p := range t.Partitions {
				states[tpKey{Topic: *t.Topic, Partition: p.Partition}] = partitionState{replicas: p.Replicas, isr: p.ISR}
				lt.Partitions = append(lt.Partitions, p.Partition)
			}
			lreq.Topics = append(lreq.Topics, lt)
		}
		if len(lreq.Topics) == 0 {
			return states, nil
		}
	}
	lresp, err := lreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(lresp.ErrorCode); err != nil {
		msg := ""
		if lresp.ErrorMessage != nil {
			msg = *lresp.ErrorMessage
		}
		return nil, fmt.Errorf("list reassignments: %s", errText(err, msg))
	}
	for _, t := range lresp.Topics {
		for _, p := range t.Partitions {
			k := tpKey{Topic: t.Topic, Partition: p.Partition}
			st := states[k]
			st.replicas, st.adding, st.removing, st.inProgress = p.Replicas, p.AddingReplicas, p.RemovingReplicas, true
			states[k] = st
		}
	}
	return states, nil
}

// followMoves polls until none of the partitions is being reassigned and
// the metadata shows each with its target replicas (the broker asked may
// learn of the change a little later than the controller), printing
// each partition's progress when it changes (table format). A partition
// no longer reassigned whose replicas stay other than the target (moved
// again by someone else) counts as done after 20 polls.
func (c *cli) followMoves(ctx context.Context, cl *kgo.Client, parts []tpKey, want map[tpKey][]int32, outs map[tpKey]*moveOut, poll time.Duration) error {
	settled := map[tpKey]int{}
	var topics []string
	for _, p := range parts {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	last := map[tpKey]string{}
	start := time.Now()
	for {
		states, err := c.reassignmentStates(ctx, cl, topics)
		if err != nil {
			return err
		}
		pending := 0
		for _, p := range parts {
			st := states[p]
			o := outs[p]
			o.Replicas, o.ISR, o.Adding, o.Removing, o.Done = st.replicas, st.isr, st.adding, st.removing, !st.inProgress
			if !st.inProgress && !slices.Equal(st.replicas, want[p]) && settled[p] < 20 {
				settled[p]++
				pending++
				continue
			}
			var line string
			if st.inProgress {
				pending++
				line = fmt.Sprintf("%s:%d  replicas %s  isr %s  adding %s  removing %s", p.Topic, p.Partition,
					ints(st.replicas), ints(st.isr), ints(st.adding), ints(st.removing))
			} else {
				line = fmt.Sprintf("%s:%d  done: replicas %s  isr %s", p.Topic, p.Partition, ints(st.replicas), ints(st.isr))
			}
			if line != last[p] && !c.json() {
				fmt.Fprintf(c.stdout, "%6.1fs  %s\n", time.Since(start).Seconds(), line)
			}
			last[p] = line
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (c *cli) partitionReassignmentsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reassignments [TOPIC...]",
		Short: "list the partitions being moved (ListPartitionReassignments)",
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			var topics []string
			if len(args) > 0 {
				topics = args
			}
			states, err := c.reassignmentStates(cmd.Context(), cl, topics)
			if err != nil {
				return err
			}
			var keys []tpKey
			for k, st := range states {
				if st.inProgress {
					keys = append(keys, k)
				}
			}
			slices.SortFunc(keys, func(a, b tpKey) int {
				if a.Topic != b.Topic {
					return strings.Compare(a.Topic, b.Topic)
				}
				return int(a.Partition - b.Partition)
			})
			outs := []moveOut{}
			for _, k := range keys {
				st := states[k]
				outs = append(outs, moveOut{Topic: k.Topic, Partition: k.Partition, Replicas: st.replicas, ISR: st.isr, Adding: st.adding, Removing: st.removing})
			}
			if c.json() {
				return c.writeJSON(outs)
			}
			if len(outs) == 0 {
				fmt.Fprintln(c.stdout, "no reassignments in progress")
				return nil
			}
			var rows [][]string
			for _, o := range outs {
				rows = append(rows, []string{o.Topic, itoa(o.Partition), ints(o.Replicas), ints(o.Adding), ints(o.Removing)})
			}
			return c.table([]string{"TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"}, rows)
		},
	}
}

// alterConfigsErr is the first error of an AlterConfigs answer.
func alterConfigsErr(res kadm.AlterConfigsResponses) error {
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("%s: %s", r.Name, errText(r.Err, r.ErrMessage))
		}
	}
	return nil
}
