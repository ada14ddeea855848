package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *cli) topicCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "create, list, describe, delete and configure topics", RunE: parentRun}
	cmd.AddCommand(c.topicCreateCmd(), c.topicListCmd(), c.topicDescribeCmd(), c.topicDeleteCmd(),
		c.topicAlterConfigCmd(), c.topicAddPartitionsCmd())
	return cmd
}

func (c *cli) topicCreateCmd() *cobra.Command {
	var partitions int32
	var replicas int16
	var configs []string
	cmd := &cobra.Command{
		Use:   "create NAME...",
		Short: "create topics",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := keyValues("--config", configs)
			if err != nil {
				return err
			}
			cfg := map[string]*string{}
			for k, v := range kv {
				cfg[k] = kadm.StringPtr(v)
			}
			adm, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := c.reqCtx(cmd.Context())
			defer cancel()
			resp, err := adm.CreateTopics(ctx, partitions, replicas, cfg, args...)
			if err != nil {
				return err
			}
			type out struct {
				Topic             string `json:"topic"`
				ID                string `json:"id,omitempty"`
				Partitions        int32  `json:"partitions"`
				ReplicationFactor int16  `json:"replication_factor"`
				Error             string `json:"error,omitempty"`
			}
			var outs []out
			var failed error
			for _, t := range resp.Sorted() {
				o := out{Topic: t.Topic, Partitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor}
				if t.Err != nil {
					o.Error = errText(t.Err, t.ErrMessage)
					failed = fmt.Errorf("topic %s: %s", t.Topic, o.Error)
				} else {
					o.ID = topicID(t.ID)
				}
				outs = append(outs, o)
			}
			if c.json() {
				if err := c.writeJSON(outs); err != nil {
					return err
				}
				return failed
			}
			for _, o := range outs {
				if o.Error == "" {
					fmt.Fprintf(c.stdout, "created topic %s (%d partitions, replication factor %d)\n", o.Topic, o.Partitions, o.ReplicationFactor)
				}
			}
			return failed
		},
	}
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", -1, "partitions (default: the broker's num.partitions)")
	cmd.Flags().Int16VarP(&replicas, "replicas", "r", -1, "replication factor (default: the broker's default.replication.factor)")
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	return cmd
}

func (c *cli) topicListCmd() *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "list topics",
		Args:    exactArgs(0),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			var (
				tds kadm.TopicDetails
				err error
			)
			if internal {
				tds, err = adm.ListTopicsWithInternal(ctx)
			} else {
				tds, err = adm.ListTopics(ctx)
			}
			if err != nil {
				return err
			}
			type out struct {
				Topic             string `json:"topic"`
				Partitions        int    `json:"partitions"`
				ReplicationFactor int    `json:"replication_factor"`
				Internal          bool   `json:"internal,omitempty"`
			}
			outs := []out{}
			for _, t := range tds.Sorted() {
				if t.Err != nil {
					return fmt.Errorf("topic %s: %v", t.Topic, t.Err)
				}
				outs = append(outs, out{t.Topic, len(t.Partitions), t.Partitions.NumReplicas(), t.IsInternal})
			}
			if c.json() {
				return c.writeJSON(outs)
			}
			var rows [][]string
			for _, o := range outs {
				rows = append(rows, []string{o.Topic, strconv.Itoa(o.Partitions), strconv.Itoa(o.ReplicationFactor)})
			}
			return c.table([]string{"NAME", "PARTITIONS", "REPLICAS"}, rows)
		}),
	}
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics")
	return cmd
}

type partitionOut struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	LogStart    int64   `json:"log_start_offset"`
	LogEnd      int64   `json:"log_end_offset"`
	Error       string  `json:"error,omitempty"`
}

type configOut struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

func (c *cli) topicDescribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "partitions (leader, replicas, ISR, log start/end offsets) and non-default configs of a topic",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			adm, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := c.reqCtx(cmd.Context())
			defer cancel()
			tds, err := adm.ListTopics(ctx, name)
			if err != nil {
				return err
			}
			td, ok := tds[name]
			if !ok {
				return fmt.Errorf("topic %s: not found", name)
			}
			if td.Err != nil {
				return fmt.Errorf("topic %s: %v", name, td.Err)
			}
			starts, err := adm.ListStartOffsets(ctx, name)
			if err != nil {
				return err
			}
			ends, err := adm.ListEndOffsets(ctx, name)
			if err != nil {
				return err
			}
			rcs, err := adm.DescribeTopicConfigs(ctx, name)
			if err != nil {
				return err
			}
			var parts []partitionOut
			for _, p := range td.Partitions.Sorted() {
				po := partitionOut{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
					Replicas: p.Replicas, ISR: p.ISR, LogStart: -1, LogEnd: -1}
				if p.Err != nil {
					po.Error = p.Err.Error()
				}
				if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
					po.LogStart = o.Offset
				}
				if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
					po.LogEnd = o.Offset
				}
				parts = append(parts, po)
			}
			configs := []configOut{}
			for _, rc := range rcs {
				if rc.Err != nil {
					return fmt.Errorf("topic %s configs: %v", name, rc.Err)
				}
				for _, cf := range rc.Configs {
					if cf.Source != kmsg.ConfigSourceDynamicTopicConfig {
						continue
					}
					configs = append(configs, configOut{cf.Key, cf.MaybeValue(), cf.Source.String()})
				}
			}
			sort.Slice(configs, func(i, j int) bool { return configs[i].Key < configs[j].Key })
			if c.json() {
				return c.writeJSON(struct {
					Topic             string         `json:"topic"`
					ID                string         `json:"id"`
					Internal          bool           `json:"internal"`
					ReplicationFactor int            `json:"replication_factor"`
					Partitions        []partitionOut `json:"partitions"`
					Configs           []configOut    `json:"configs"`
				}{name, topicID(td.ID), td.IsInternal, td.Partitions.NumReplicas(), parts, configs})
			}
			fmt.Fprintf(c.stdout, "NAME         %s\nID           %s\nPARTITIONS   %d\nREPLICAS     %d\n\n", name, topicID(td.ID), len(parts), td.Partitions.NumReplicas())
			var rows [][]string
			for _, p := range parts {
				rows = append(rows, []string{itoa(p.Partition), itoa(p.Leader), itoa(p.LeaderEpoch), ints(p.Replicas), ints(p.ISR),
					strconv.FormatInt(p.LogStart, 10), strconv.FormatInt(p.LogEnd, 10), p.Error})
			}
			if err := c.table([]string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "LOG-END", "ERROR"}, rows); err != nil {
				return err
			}
			if len(configs) > 0 {
				fmt.Fprintln(c.stdout)
				rows = nil
				for _, cf := range configs {
					rows = append(rows, []string{cf.Key, cf.Value, cf.Source})
				}
				return c.table([]string{"CONFIG", "VALUE", "SOURCE"}, rows)
			}
			return nil
		},
	}
}

func (c *cli) topicDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "delete topics",
		Args:  minArgs(1),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			resp, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return err
			}
			return perItem(c, "deleted topic", resp.Sorted(), func(r kadm.DeleteTopicResponse) (string, string, error) {
				return r.Topic, r.ErrMessage, r.Err
			})
		}),
	}
}

// itemOut is the result of an operation on one named thing.
type itemOut struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// perItem prints "<done> NAME" for each success (or JSON), by name, and
// returns the first failure.
func perItem[T any](c *cli, done string, items []T, get func(T) (string, string, error)) error {
	var outs []itemOut
	var failed error
	for _, it := range items {
		name, msg, err := get(it)
		o := itemOut{Name: name}
		if err != nil {
			o.Error = errText(err, msg)
			if failed == nil {
				failed = fmt.Errorf("%s: %s", name, o.Error)
			}
		}
		outs = append(outs, o)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Name < outs[j].Name })
	if c.json() {
		if err := c.writeJSON(outs); err != nil {
			return err
		}
		return failed
	}
	for _, o := range outs {
		if o.Error == "" {
			fmt.Fprintln(c.stdout, done, o.Name)
		}
	}
	return failed
}

func (c *cli) topicAlterConfigCmd() *cobra.Command {
	var set, del []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME --set key=value --delete key",
		Short: "set or delete topic configs (incrementally)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := keyValues("--set", set)
			if err != nil {
				return err
			}
			if len(kv) == 0 && len(del) == 0 {
				return usageErrorf("alter-config: nothing to do (give --set key=value or --delete key)")
			}
			var acs []kadm.AlterConfig
			for k, v := range kv {
				acs = append(acs, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
			}
			for _, k := range del {
				acs = append(acs, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			adm, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := c.reqCtx(cmd.Context())
			defer cancel()
			resp, err := adm.AlterTopicConfigs(ctx, acs, args[0])
			if err != nil {
				return err
			}
			return perItem(c, "altered configs of topic", resp, func(r kadm.AlterConfigsResponse) (string, string, error) {
				return r.Name, r.ErrMessage, r.Err
			})
		},
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "config key=value to set (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete", nil, "config key to delete, back to its default (repeatable)")
	return cmd
}

func (c *cli) topicAddPartitionsCmd() *cobra.Command {
	var total int
	cmd := &cobra.Command{
		Use:   "add-partitions NAME -p TOTAL",
		Short: "grow a topic to TOTAL partitions",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if total <= 0 {
				return usageErrorf("add-partitions: -p TOTAL is required")
			}
			adm, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := c.reqCtx(cmd.Context())
			defer cancel()
			resp, err := adm.UpdatePartitions(ctx, total, args[0])
			if err != nil {
				return err
			}
			return perItem(c, fmt.Sprintf("%d partitions now in topic", total), resp.Sorted(), func(r kadm.CreatePartitionsResponse) (string, string, error) {
				return r.Topic, r.ErrMessage, r.Err
			})
		},
	}
	cmd.Flags().IntVarP(&total, "partitions", "p", 0, "the total number of partitions wanted")
	return cmd
}

// errText is a Kafka error with the broker's message if it sent one.
func errText(err error, msg string) string {
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return err.Error() + ": " + msg
	}
	return err.Error()
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

func ints(is []int32) string {
	s := make([]string, len(is))
	for i, v := range is {
		s[i] = itoa(v)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// topicID is a topic id as Kafka's tools print it: URL-safe base64
// without padding.
func topicID(id kadm.TopicID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }
