package main

// gregor cluster quorum: the controller quorum's members (DescribeQuorum)
// and voter changes (AddRaftVoter, RemoveRaftVoter), as Kafka's
// kafka-metadata-quorum.sh describe / add-controller / remove-controller.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *cli) clusterQuorumCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quorum",
		Short: "the controller quorum: leader, epoch, voters and observers with their lag",
		Args:  exactArgs(0),
		RunE:  c.withClient(c.describeQuorum),
	}
	cmd.AddCommand(c.quorumAddVoterCmd(), c.quorumRemoveVoterCmd())
	return cmd
}

// withClient is withAdmin for commands that send raw requests.
func (c *cli) withClient(f func(ctx context.Context, cl *kgo.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cl, err := c.client(cmd.Context())
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := c.reqCtx(cmd.Context())
		defer cancel()
		return f(ctx, cl, args)
	}
}

type quorumMemberOut struct {
	ID           int32  `json:"id"`
	Role         string `json:"role"` // leader, voter, observer
	LogEndOffset int64  `json:"log_end_offset"`
	Lag          int64  `json:"lag"`
	LastFetchMs  int64  `json:"last_fetch_ms_ago"`     // -1 unknown
	CaughtUpMs   int64  `json:"last_caught_up_ms_ago"` // -1 unknown
	Endpoint     string `json:"endpoint,omitempty"`
}

type quorumOut struct {
	Leader        int32             `json:"leader"`
	Epoch         int32             `json:"epoch"`
	HighWatermark int64             `json:"high_watermark"`
	Members       []quorumMemberOut `json:"members"`
}

func (c *cli) describeQuorum(ctx context.Context, cl *kgo.Client, _ []string) error {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("describe quorum: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("describe quorum: malformed response")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		if p.ErrorMessage != nil {
			return fmt.Errorf("describe quorum: %v: %s", err, *p.ErrorMessage)
		}
		return fmt.Errorf("describe quorum: %v", err)
	}
	endpoints := map[int32]string{}
	for _, n := range resp.Nodes {
		if len(n.Listeners) > 0 {
			endpoints[n.NodeID] = net.JoinHostPort(n.Listeners[0].Host, strconv.Itoa(int(n.Listeners[0].Port)))
		}
	}
	now := time.Now().UnixMilli()
	ago := func(ts int64) int64 {
		if ts < 0 {
			return -1
		}
		return max(now-ts, 0)
	}
	out := quorumOut{Leader: p.LeaderID, Epoch: p.LeaderEpoch, HighWatermark: p.HighWatermark, Members: []quorumMemberOut{}}
	add := func(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
		for _, r := range rs {
			m := quorumMemberOut{ID: r.ReplicaID, Role: role, LogEndOffset: r.LogEndOffset, Lag: max(p.HighWatermark-r.LogEndOffset, 0),
				LastFetchMs: ago(r.LastFetchTimestamp), CaughtUpMs: ago(r.LastCaughtUpTimestamp), Endpoint: endpoints[r.ReplicaID]}
			if r.ReplicaID == p.LeaderID && role == "voter" {
				m.Role = "leader"
			}
			out.Members = append(out.Members, m)
		}
	}
	add(p.CurrentVoters, "voter")
	add(p.Observers, "observer")
	slices.SortFunc(out.Members, func(a, b quorumMemberOut) int { return int(a.ID - b.ID) })
	if c.json() {
		return c.writeJSON(out)
	}
	fmt.Fprintf(c.stdout, "LEADER          %d\nEPOCH           %d\nHIGH WATERMARK  %d\n\n", out.Leader, out.Epoch, out.HighWatermark)
	var rows [][]string
	ms := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatInt(v, 10) + "ms"
	}
	for _, m := range out.Members {
		rows = append(rows, []string{itoa(m.ID), m.Role, strconv.FormatInt(m.LogEndOffset, 10), strconv.FormatInt(m.Lag, 10), ms(m.LastFetchMs), ms(m.CaughtUpMs), m.Endpoint})
	}
	return c.table([]string{"ID", "ROLE", "LOG END", "LAG", "LAST FETCH", "CAUGHT UP", "ENDPOINT"}, rows)
}

func (c *cli) quorumAddVoterCmd() *cobra.Command {
	var listener string
	cmd := &cobra.Command{
		Use:   "add-voter ID HOST:PORT",
		Short: "make node ID a controller voter; HOST:PORT is its controller (Raft) listener",
		Args:  exactArgs(2),
		RunE: c.withClient(func(ctx context.Context, cl *kgo.Client, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usageErrorf("node id %q: want a number >= 0", args[0])
			}
			host, portS, err := net.SplitHostPort(args[1])
			port, perr := strconv.ParseUint(portS, 10, 16)
			if err != nil || perr != nil || host == "" {
				return usageErrorf("%q: want HOST:PORT of the node's controller listener", args[1])
			}
			req := kmsg.NewPtrAddRaftVoterRequest()
			req.VoterID = int32(id)
			req.TimeoutMillis = int32(c.timeout.Milliseconds())
			l := kmsg.NewAddRaftVoterRequestListener()
			l.Name, l.Host, l.Port = listener, host, uint16(port)
			req.Listeners = append(req.Listeners, l)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return c.voterChangeResult("added voter", int32(id), resp.ErrorCode, resp.ErrorMessage)
		}),
	}
	cmd.Flags().StringVar(&listener, "listener", "CONTROLLER", "the controller listener's name (controller.listener.names)")
	return cmd
}

func (c *cli) quorumRemoveVoterCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove-voter ID",
		Short: "take node ID out of the controller voters (a running broker stays an observer)",
		Args:  exactArgs(1),
		RunE: c.withClient(func(ctx context.Context, cl *kgo.Client, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usageErrorf("node id %q: want a number >= 0", args[0])
			}
			req := kmsg.NewPtrRemoveRaftVoterRequest()
			req.VoterID = int32(id)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return c.voterChangeResult("removed voter", int32(id), resp.ErrorCode, resp.ErrorMessage)
		}),
	}
}

func (c *cli) voterChangeResult(done string, id int32, code int16, msg *string) error {
	if err := kerr.ErrorForCode(code); err != nil {
		if msg != nil {
			return fmt.Errorf("%v: %s", err, *msg)
		}
		return err
	}
	fmt.Fprintf(c.stdout, "%s %d\n", done, id)
	return nil
}
