package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func (c *cli) groupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "list, describe, show the lag of, seek and delete consumer groups", RunE: parentRun}
	cmd.AddCommand(c.groupListCmd(), c.groupDescribeCmd(), c.groupLagCmd(), c.groupSeekCmd(), c.groupDeleteCmd())
	return cmd
}

func (c *cli) groupListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "list consumer groups",
		Args:    exactArgs(0),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			gs, err := adm.ListGroups(ctx)
			if err != nil {
				return err
			}
			type out struct {
				Group        string `json:"group"`
				State        string `json:"state"`
				ProtocolType string `json:"protocol_type"`
				Coordinator  int32  `json:"coordinator"`
			}
			outs := []out{}
			for _, g := range gs.Sorted() {
				outs = append(outs, out{g.Group, g.State, g.ProtocolType, g.Coordinator})
			}
			if c.json() {
				return c.writeJSON(outs)
			}
			var rows [][]string
			for _, o := range outs {
				rows = append(rows, []string{o.Group, o.State, o.ProtocolType, itoa(o.Coordinator)})
			}
			return c.table([]string{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"}, rows)
		}),
	}
}

type memberOut struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	ClientHost string             `json:"client_host"`
	Assigned   map[string][]int32 `json:"assignment"`
	assigned   []string           // "topic[0,1]" for the table, sorted
}

func (c *cli) groupDescribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "state, protocol and members (with their assignments) of a group",
		Args:  exactArgs(1),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			gs, err := adm.DescribeGroups(ctx, args[0])
			if err != nil {
				return err
			}
			g, ok := gs[args[0]]
			if !ok {
				return fmt.Errorf("group %s: not described", args[0])
			}
			if g.Err != nil {
				return fmt.Errorf("group %s: %s", args[0], errText(g.Err, g.ErrMessage))
			}
			members := []memberOut{}
			for _, m := range g.Members {
				mo := memberOut{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: map[string][]int32{}}
				if m.InstanceID != nil {
					mo.InstanceID = *m.InstanceID
				}
				if ca, ok := m.Assigned.AsConsumer(); ok {
					for _, t := range ca.Topics {
						ps := append([]int32(nil), t.Partitions...)
						sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
						mo.Assigned[t.Topic] = ps
						mo.assigned = append(mo.assigned, t.Topic+ints(ps))
					}
					sort.Strings(mo.assigned)
				}
				members = append(members, mo)
			}
			if c.json() {
				return c.writeJSON(struct {
					Group        string      `json:"group"`
					State        string      `json:"state"`
					ProtocolType string      `json:"protocol_type"`
					Protocol     string      `json:"protocol"`
					Coordinator  int32       `json:"coordinator"`
					Members      []memberOut `json:"members"`
				}{g.Group, g.State, g.ProtocolType, g.Protocol, g.Coordinator.NodeID, members})
			}
			fmt.Fprintf(c.stdout, "GROUP          %s\nSTATE          %s\nPROTOCOL-TYPE  %s\nPROTOCOL       %s\nCOORDINATOR    %d\nMEMBERS        %d\n",
				g.Group, g.State, g.ProtocolType, g.Protocol, g.Coordinator.NodeID, len(members))
			if len(members) == 0 {
				return nil
			}
			fmt.Fprintln(c.stdout)
			var rows [][]string
			for _, m := range members {
				rows = append(rows, []string{m.MemberID, m.ClientID, m.ClientHost, strings.Join(m.assigned, " ")})
			}
			return c.table([]string{"MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT"}, rows)
		}),
	}
}

type lagOut struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset int64  `json:"committed_offset"` // -1: nothing committed
	LogEndOffset    int64  `json:"log_end_offset"`
	Lag             int64  `json:"lag"`
	MemberID        string `json:"member_id,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	Error           string `json:"error,omitempty"`
}

func (c *cli) groupLagCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lag GROUP",
		Short: "per partition: committed offset, log end offset and lag; and the total",
		Args:  exactArgs(1),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			lags, err := adm.Lag(ctx, args[0])
			if err != nil {
				return err
			}
			l, ok := lags[args[0]]
			if !ok {
				return fmt.Errorf("group %s: not described", args[0])
			}
			if err := l.Error(); err != nil {
				return fmt.Errorf("group %s: %v", args[0], err)
			}
			parts := []lagOut{}
			var total int64
			for _, p := range l.Lag.Sorted() {
				o := lagOut{Topic: p.Topic, Partition: p.Partition, CommittedOffset: p.Commit.At, LogEndOffset: p.End.Offset, Lag: p.Lag}
				if p.Member != nil {
					o.MemberID, o.ClientID = p.Member.MemberID, p.Member.ClientID
				}
				if p.Err != nil {
					o.Error = p.Err.Error()
				}
				if o.Lag > 0 {
					total += o.Lag
				}
				parts = append(parts, o)
			}
			if c.json() {
				return c.writeJSON(struct {
					Group      string   `json:"group"`
					State      string   `json:"state"`
					TotalLag   int64    `json:"total_lag"`
					Partitions []lagOut `json:"partitions"`
				}{l.Group, l.State, total, parts})
			}
			var rows [][]string
			for _, p := range parts {
				rows = append(rows, []string{p.Topic, itoa(p.Partition), offsetText(p.CommittedOffset), offsetText(p.LogEndOffset),
					strconv.FormatInt(p.Lag, 10), p.MemberID, p.Error})
			}
			rows = append(rows, []string{"TOTAL", "", "", "", strconv.FormatInt(total, 10), "", ""})
			return c.table([]string{"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER", "ERROR"}, rows)
		}),
	}
}

func offsetText(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

// seekTarget is a parsed --to.
type seekTarget struct {
	kind  string // earliest, latest, offset, timestamp, shift
	value int64
}

func parseSeekTarget(s string) (seekTarget, error) {
	switch {
	case s == "earliest" || s == "beginning":
		return seekTarget{kind: "earliest"}, nil
	case s == "latest" || s == "end":
		return seekTarget{kind: "latest"}, nil
	case strings.HasPrefix(s, "@"):
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return seekTarget{}, usageErrorf("--to: %q is not @TIMESTAMP_MS", s)
		}
		return seekTarget{kind: "timestamp", value: ms}, nil
	case strings.HasPrefix(s, "shift:"):
		n, err := strconv.ParseInt(s[len("shift:"):], 10, 64)
		if err != nil {
			return seekTarget{}, usageErrorf("--to: %q is not shift:+N or shift:-N", s)
		}
		return seekTarget{kind: "shift", value: n}, nil
	default:
		o, err := strconv.ParseInt(s, 10, 64)
		if err != nil || o < 0 {
			return seekTarget{}, usageErrorf("--to: %q is not earliest, latest, OFFSET, @TIMESTAMP_MS or shift:+-N", s)
		}
		return seekTarget{kind: "offset", value: o}, nil
	}
}

type seekOut struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	OldOffset int64  `json:"old_offset"` // -1: nothing committed
	NewOffset int64  `json:"new_offset"`
	Error     string `json:"error,omitempty"`
}

func (c *cli) groupSeekCmd() *cobra.Command {
	var (
		topics []string
		to     string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "seek GROUP --to earliest|latest|OFFSET|@TIMESTAMP_MS|shift:+-N [--topic T]... [--dry-run]",
		Short: "reset a group's committed offsets (the group must have no members)",
		Long: `Reset the committed offsets of GROUP in the given topics (default: every topic it
has commits in), printing the old and new offset of each partition. OFFSET and
shift are clamped to the partition's log start and end. The group must be empty
(no running consumers), as Kafka requires. --dry-run only prints.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if to == "" {
				return usageErrorf("seek: --to is required")
			}
			target, err := parseSeekTarget(to)
			if err != nil {
				return err
			}
			adm, err := c.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := c.reqCtx(cmd.Context())
			defer cancel()
			gs, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return err
			}
			if g, ok := gs[group]; ok {
				if g.Err != nil {
					return fmt.Errorf("group %s: %s", group, errText(g.Err, g.ErrMessage))
				}
				if g.State != "Empty" && g.State != "Dead" && g.State != "" {
					return fmt.Errorf("group %s is not empty (state %s, %d members): offsets can only be reset while no consumer is running in it",
						group, g.State, len(g.Members))
				}
			}
			commits, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return err
			}
			if err := commits.Error(); err != nil {
				return fmt.Errorf("group %s offsets: %v", group, err)
			}
			if len(topics) == 0 {
				for t := range commits.Partitions() {
					topics = append(topics, t)
				}
				if len(topics) == 0 {
					return fmt.Errorf("group %s has no committed offsets; name the topics with --topic", group)
				}
			}
			tds, err := adm.ListTopics(ctx, topics...)
			if err != nil {
				return err
			}
			if err := tds.Error(); err != nil {
				return err
			}
			starts, err := adm.ListStartOffsets(ctx, topics...)
			if err != nil {
				return err
			}
			ends, err := adm.ListEndOffsets(ctx, topics...)
			if err != nil {
				return err
			}
			var times kadm.ListedOffsets
			if target.kind == "timestamp" {
				if times, err = adm.ListOffsetsAfterMilli(ctx, target.value, topics...); err != nil {
					return err
				}
			}
			var outs []seekOut
			var newOffsets kadm.Offsets
			for _, td := range tds.Sorted() {
				for _, p := range td.Partitions.Sorted() {
					o := seekOut{Topic: td.Topic, Partition: p.Partition, OldOffset: -1}
					if cm, ok := commits.Lookup(td.Topic, p.Partition); ok && cm.Err == nil {
						o.OldOffset = cm.At
					}
					start, sok := starts.Lookup(td.Topic, p.Partition)
					end, eok := ends.Lookup(td.Topic, p.Partition)
					if !sok || !eok || start.Err != nil || end.Err != nil {
						o.Error = "cannot list its offsets"
						if start.Err != nil {
							o.Error = start.Err.Error()
						} else if end.Err != nil {
							o.Error = end.Err.Error()
						}
						o.NewOffset = o.OldOffset
						outs = append(outs, o)
						continue
					}
					switch target.kind {
					case "earliest":
						o.NewOffset = start.Offset
					case "latest":
						o.NewOffset = end.Offset
					case "offset":
						o.NewOffset = target.value
					case "shift":
						from := o.OldOffset
						if from < 0 {
							from = start.Offset
						}
						o.NewOffset = from + target.value
					case "timestamp":
						o.NewOffset = end.Offset
						if ts, ok := times.Lookup(td.Topic, p.Partition); ok && ts.Err == nil && ts.Offset >= 0 {
							o.NewOffset = ts.Offset
						}
					}
					o.NewOffset = max(start.Offset, min(end.Offset, o.NewOffset))
					newOffsets.AddOffset(td.Topic, p.Partition, o.NewOffset, -1)
					outs = append(outs, o)
				}
			}
			var failed error
			if !dryRun && len(newOffsets) > 0 {
				resp, err := adm.CommitOffsets(ctx, group, newOffsets)
				if err != nil {
					return err
				}
				for i := range outs {
					if r, ok := resp.Lookup(outs[i].Topic, outs[i].Partition); ok && r.Err != nil {
						outs[i].Error = r.Err.Error()
						if failed == nil {
							failed = fmt.Errorf("commit %s/%d: %v", outs[i].Topic, outs[i].Partition, r.Err)
						}
					}
				}
			}
			for _, o := range outs {
				if o.Error != "" && failed == nil {
					failed = fmt.Errorf("%s/%d: %s", o.Topic, o.Partition, o.Error)
				}
			}
			if c.json() {
				if err := c.writeJSON(struct {
					Group      string    `json:"group"`
					DryRun     bool      `json:"dry_run"`
					Partitions []seekOut `json:"partitions"`
				}{group, dryRun, outs}); err != nil {
					return err
				}
				return failed
			}
			var rows [][]string
			for _, o := range outs {
				rows = append(rows, []string{o.Topic, itoa(o.Partition), offsetText(o.OldOffset), offsetText(o.NewOffset), o.Error})
			}
			if err := c.table([]string{"TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET", "ERROR"}, rows); err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintln(c.stderr, "dry run: no offsets changed")
			}
			return failed
		},
	}
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "topic to reset (repeatable; default: the topics the group has commits in)")
	cmd.Flags().StringVar(&to, "to", "", "earliest, latest, OFFSET, @TIMESTAMP_MS or shift:+N / shift:-N")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the old and new offsets, change nothing")
	return cmd
}

func (c *cli) groupDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "delete consumer groups (they must be empty)",
		Args:  minArgs(1),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			resp, err := adm.DeleteGroups(ctx, args...)
			if err != nil {
				return err
			}
			return perItem(c, "deleted group", resp.Sorted(), func(r kadm.DeleteGroupResponse) (string, string, error) {
				return r.Group, r.ErrMessage, r.Err
			})
		}),
	}
}
