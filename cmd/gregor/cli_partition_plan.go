package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicsFile is kafka-reassign-partitions.sh's topics-to-move JSON
// ({"topics":[{"topic":"foo"}],"version":1}).
type topicsFile struct {
	Version int `json:"version"`
	Topics  []struct {
		Topic string `json:"topic"`
	} `json:"topics"`
}

func readTopicsFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("--topics-file: %v", err)
	}
	var f topicsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, usageErrorf("--topics-file %s: %v", path, err)
	}
	if f.Version != 0 && f.Version != 1 {
		return nil, usageErrorf("--topics-file %s: unsupported version %d", path, f.Version)
	}
	var topics []string
	for i, t := range f.Topics {
		if t.Topic == "" {
			return nil, usageErrorf("--topics-file %s: topic entry %d has no topic", path, i)
		}
		topics = append(topics, t.Topic)
	}
	return topics, nil
}

// parseIDs parses BROKER,BROKER,...
func parseIDs(flag, s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || id < 0 {
			return nil, usageErrorf("%s: bad broker id %q", flag, f)
		}
		ids = append(ids, int32(id))
	}
	return ids, nil
}

// planFile is an assignment in kafka-reassign-partitions.sh's format,
// partitions in order, every log dir "any".
func planFile(m map[tpKey][]int32) reassignmentFile {
	f := reassignmentFile{Version: 1, Partitions: []moveTarget{}}
	for k, rs := range m {
		dirs := make([]string, len(rs))
		for i := range dirs {
			dirs[i] = "any"
		}
		f.Partitions = append(f.Partitions, moveTarget{Topic: k.Topic, Partition: k.Partition, Replicas: rs, LogDirs: dirs})
	}
	slices.SortFunc(f.Partitions, func(a, b moveTarget) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	return f
}

// planOut is `partition plan --format json`.
type planOut struct {
	Current  reassignmentFile `json:"current"`
	Proposed reassignmentFile `json:"proposed"`
	Moves    int              `json:"moves"`   // replicas placed on brokers not holding them now
	Leaders  int              `json:"leaders"` // partitions whose first replica changes
}

func (c *cli) partitionPlanCmd() *cobra.Command {
	var topicList, topicsPath, brokerList, output string
	var disableRack, rackAware bool
	cmd := &cobra.Command{
		Use:   "plan --topics TOPIC,... | --topics-file FILE [--broker-list BROKER,...] [--disable-rack-aware] [--output FILE]",
		Short: "propose a balanced reassignment of topics onto brokers (kafka-reassign-partitions.sh --generate)",
		Long: "Prints the current assignment of the topics' partitions and a proposed one, both in\n" +
			"kafka-reassign-partitions.sh's JSON (execute the proposal with `gregor partition move --plan FILE`,\n" +
			"follow it with `gregor partition verify --plan FILE`). --topics-file takes Kafka's topics-to-move JSON\n" +
			"({\"topics\":[{\"topic\":\"foo\"}],\"version\":1}). --broker-list names the brokers to place replicas on\n" +
			"(default: every broker of the cluster). The proposal keeps each partition's replication factor and\n" +
			"spreads every topic's replicas and leaders (first replicas) evenly over the brokers, the totals too,\n" +
			"moving as few replicas as it can: replicas already on one of the brokers stay where the even share\n" +
			"allows. When the brokers have racks (broker.rack), each partition spans as many racks as its\n" +
			"replication factor allows, as Kafka's rack-aware assignment does (--disable-rack-aware: ignore racks).\n" +
			"--output FILE also writes the proposal to FILE.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("%s takes no arguments (--topics TOPIC,...)", cmd.CommandPath())
			}
			var topics []string
			switch {
			case topicList != "" && topicsPath != "":
				return usageErrorf("give --topics or --topics-file, not both")
			case topicList != "":
				for _, t := range strings.Split(topicList, ",") {
					if t = strings.TrimSpace(t); t != "" && !slices.Contains(topics, t) {
						topics = append(topics, t)
					}
				}
			case topicsPath != "":
				t, err := readTopicsFile(topicsPath)
				if err != nil {
					return err
				}
				topics = t
			}
			if len(topics) == 0 {
				return usageErrorf("%s: no topics given (--topics or --topics-file)", cmd.CommandPath())
			}
			if rackAware && disableRack {
				return usageErrorf("give --rack-aware or --disable-rack-aware, not both")
			}
			var ids []int32
			if brokerList != "" {
				var err error
				if ids, err = parseIDs("--broker-list", brokerList); err != nil {
					return err
				}
			}
			adm, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := c.reqCtx(cmd.Context())
			defer cancel()
			md, err := adm.Metadata(ctx, topics...)
			if err != nil {
				return err
			}
			current := map[tpKey][]int32{}
			for _, t := range topics {
				td, ok := md.Topics[t]
				if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
					return fmt.Errorf("topic %s does not exist", t)
				} else if td.Err != nil {
					return fmt.Errorf("topic %s: %v", t, td.Err)
				}
				for p, pd := range td.Partitions {
					current[tpKey{Topic: t, Partition: p}] = pd.Replicas
				}
			}
			var brokers []planBroker
			for _, b := range md.Brokers {
				if len(ids) > 0 && !slices.Contains(ids, b.NodeID) {
					continue
				}
				pb := planBroker{ID: b.NodeID}
				if b.Rack != nil {
					pb.Rack = *b.Rack
				}
				brokers = append(brokers, pb)
			}
			for _, id := range ids {
				if !slices.ContainsFunc(brokers, func(b planBroker) bool { return b.ID == id }) {
					return fmt.Errorf("--broker-list: broker %d is not in the cluster (brokers %s)", id, ints(md.Brokers.NodeIDs()))
				}
			}
			proposed, err := planAssignment(current, brokers, !disableRack)
			if err != nil {
				return err
			}
			out := planOut{Current: planFile(current), Proposed: planFile(proposed)}
			for k, rs := range proposed {
				for _, b := range rs {
					if !slices.Contains(current[k], b) {
						out.Moves++
					}
				}
				if rs[0] != current[k][0] {
					out.Leaders++
				}
			}
			if output != "" {
				b, err := json.Marshal(out.Proposed)
				if err != nil {
					return err
				}
				if err := os.WriteFile(output, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			if c.json() {
				return c.writeJSON(out)
			}
			cur, err := json.Marshal(out.Current)
			if err != nil {
				return err
			}
			prop, err := json.Marshal(out.Proposed)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Current partition replica assignment\n%s\n\nProposed partition reassignment configuration\n%s\n\n", cur, prop)
			fmt.Fprintf(c.stdout, "%d replicas move, %d partitions change leader (first replica)\n", out.Moves, out.Leaders)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&topicList, "topics", "", "topics to reassign, TOPIC,...")
	f.StringVar(&topicsPath, "topics-file", "", "topics to reassign, kafka-reassign-partitions.sh's topics-to-move JSON")
	f.StringVar(&brokerList, "broker-list", "", "brokers to place replicas on, BROKER,... (default: all)")
	f.BoolVar(&disableRack, "disable-rack-aware", false, "ignore the brokers' racks")
	f.BoolVar(&rackAware, "rack-aware", false, "spread each partition over racks (the default)")
	f.StringVarP(&output, "output", "o", "", "also write the proposal to this file")
	return cmd
}

// moveLogDirs asks each broker to place the replicas the targets give a
// log dir other than "any" in that dir (AlterReplicaLogDirs), for the
// partitions whose reassignment was accepted. A broker that holds no
// replica yet answers REPLICA_NOT_AVAILABLE and keeps the dir for it.
func (c *cli) moveLogDirs(ctx context.Context, cl *kgo.Client, targets []moveTarget, resp kadm.AlterPartitionAssignmentsResponses) error {
	reqs := map[int32]kadm.AlterReplicaLogDirsReq{}
	for _, t := range targets {
		if r, ok := resp[t.Topic][t.Partition]; !ok || r.Err != nil {
			continue
		}
		for i, d := range t.LogDirs {
			if d == "any" {
				continue
			}
			r := reqs[t.Replicas[i]]
			r.Add(d, kadm.TopicsSet{t.Topic: {t.Partition: {}}})
			reqs[t.Replicas[i]] = r
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	adm := kadm.NewClient(cl)
	var failed error
	for _, b := range slices.Sorted(maps.Keys(reqs)) {
		res, err := adm.AlterBrokerReplicaLogDirs(ctx, b, reqs[b])
		if err != nil {
			return fmt.Errorf("alter log dirs on broker %d: %w", b, err)
		}
		res.Each(func(r kadm.AlterReplicaLogDirsResponse) {
			switch {
			case r.Err == nil || errors.Is(r.Err, kerr.ReplicaNotAvailable):
				if !c.json() {
					fmt.Fprintf(c.stdout, "%s:%d on broker %d goes to log dir %s\n", r.Topic, r.Partition, b, r.Dir)
				}
			default:
				failed = fmt.Errorf("%s:%d on broker %d to %s: %v", r.Topic, r.Partition, b, r.Dir, r.Err)
				fmt.Fprintf(c.stderr, "%s:%d on broker %d to log dir %s: %v\n", r.Topic, r.Partition, b, r.Dir, r.Err)
			}
		})
	}
	return failed
}

// verifyOut is one partition of `partition verify --format json`.
type verifyOut struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Status    string  `json:"status"` // done, in progress, log dir move in progress, not moved, unknown partition
	Replicas  []int32 `json:"replicas"`
	Target    []int32 `json:"target"`
}

func (c *cli) partitionVerifyCmd() *cobra.Command {
	var file string
	var preserve bool
	cmd := &cobra.Command{
		Use:   "verify --plan FILE [--preserve-throttles]",
		Short: "report whether the moves of a reassignment file are done (kafka-reassign-partitions.sh --verify)",
		Long: "For each partition of the reassignment file: done (its replicas are the target, and every replica\n" +
			"given a log dir is in it), in progress (being reassigned, or a replica still moving between log\n" +
			"dirs), or not moved (no reassignment in progress, but the replicas differ from the target).\n" +
			"Exits 1 unless every partition is done. Once all are, it removes the replication throttles as\n" +
			"kafka-reassign-partitions.sh --verify does (the rates on every broker, the throttled-replica lists\n" +
			"on the file's topics) unless --preserve-throttles.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("%s takes no arguments (--plan FILE)", cmd.CommandPath())
			}
			flag, err := fileFlag(cmd, "plan", "file", "reassignment-json-file")
			if err != nil {
				return err
			}
			if file == "" {
				return usageErrorf("%s: --plan FILE is required", cmd.CommandPath())
			}
			targets, err := readMoveFile(flag, file, false)
			if err != nil {
				return err
			}
			cl, err := c.client(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			var topics []string
			for _, t := range targets {
				if !slices.Contains(topics, t.Topic) {
					topics = append(topics, t.Topic)
				}
			}
			states, err := c.reassignmentStates(cmd.Context(), cl, topics)
			if err != nil {
				return err
			}
			dirs, err := c.replicaDirs(cmd.Context(), cl, targets)
			if err != nil {
				return err
			}
			outs := []verifyOut{}
			complete := true
			for _, t := range targets {
				st, ok := states[tpKey{Topic: t.Topic, Partition: t.Partition}]
				o := verifyOut{Topic: t.Topic, Partition: t.Partition, Replicas: st.replicas, Target: t.Replicas}
				switch {
				case !ok:
					o.Status = "unknown partition"
				case st.inProgress:
					o.Status = "in progress"
				case !slices.Equal(st.replicas, t.Replicas):
					o.Status = "not moved"
				default:
					o.Status = "done"
					for i, d := range t.LogDirs {
						if d != "any" && dirs[replicaAt{t.Topic, t.Partition, t.Replicas[i]}] != d {
							o.Status = "log dir move in progress"
						}
					}
				}
				complete = complete && o.Status == "done"
				outs = append(outs, o)
			}
			if c.json() {
				if err := c.writeJSON(outs); err != nil {
					return err
				}
			} else {
				var rows [][]string
				for _, o := range outs {
					rows = append(rows, []string{o.Topic, itoa(o.Partition), o.Status, ints(o.Replicas), ints(o.Target)})
				}
				if err := c.table([]string{"TOPIC", "PARTITION", "STATUS", "REPLICAS", "TARGET"}, rows); err != nil {
					return err
				}
			}
			if !complete {
				return errSilent
			}
			if preserve {
				return nil
			}
			ctx, cancel := c.reqCtx(cmd.Context())
			md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			cancel()
			if err != nil {
				return err
			}
			return c.clearMoveThrottle(cmd.Context(), cl, &moveThrottle{brokers: md.Brokers.NodeIDs(), topics: topics})
		},
	}
	cmd.Flags().StringVar(&file, "plan", "", "reassignment JSON file (kafka-reassign-partitions.sh format)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "the same as --plan")
	cmd.Flags().StringVar(&file, "reassignment-json-file", "", "the same as --plan (kafka-reassign-partitions.sh's name)")
	cmd.Flags().BoolVar(&preserve, "preserve-throttles", false, "keep the replication throttles when the moves are done")
	return cmd
}

// replicaAt names one replica.
type replicaAt struct {
	topic     string
	partition int32
	broker    int32
}

// replicaDirs returns the log dir of each replica the targets give a log
// dir other than "any" (DescribeLogDirs; a replica still moving to
// another dir has none).
func (c *cli) replicaDirs(ctx context.Context, cl *kgo.Client, targets []moveTarget) (map[replicaAt]string, error) {
	sets := map[int32]kadm.TopicsSet{}
	for _, t := range targets {
		for i, d := range t.LogDirs {
			if d == "any" {
				continue
			}
			s := sets[t.Replicas[i]]
			if s == nil {
				s = kadm.TopicsSet{}
				sets[t.Replicas[i]] = s
			}
			s.Add(t.Topic, t.Partition)
		}
	}
	dirs := map[replicaAt]string{}
	if len(sets) == 0 {
		return dirs, nil
	}
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	adm := kadm.NewClient(cl)
	for b, s := range sets {
		res, err := adm.DescribeBrokerLogDirs(ctx, b, s)
		if err != nil {
			return nil, fmt.Errorf("describe log dirs of broker %d: %w", b, err)
		}
		future := map[replicaAt]bool{}
		for dir, d := range res {
			for topic, ps := range d.Topics {
				for p, dp := range ps {
					k := replicaAt{topic, p, b}
					if dp.IsFuture {
						future[k] = true
					} else {
						dirs[k] = dir
					}
				}
			}
		}
		for k := range future {
			delete(dirs, k)
		}
	}
	return dirs, nil
}
