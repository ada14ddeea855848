package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func (c *cli) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "cluster id, brokers, broker configs and partition health", RunE: parentRun}
	cmd.AddCommand(c.clusterInfoCmd(), c.clusterConfigCmd(), c.clusterHealthCmd(), c.clusterQuorumCmd(), c.clusterUnregisterCmd())
	return cmd
}

type brokerOut struct {
	ID      int32  `json:"id"`
	Address string `json:"address"`
	Rack    string `json:"rack,omitempty"`
}

func (c *cli) clusterInfoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "cluster id, controller and brokers (host:port, rack)",
		Args:  exactArgs(0),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			md, err := adm.BrokerMetadata(ctx)
			if err != nil {
				return err
			}
			brokers := []brokerOut{}
			for _, b := range md.Brokers {
				bo := brokerOut{ID: b.NodeID, Address: net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))}
				if b.Rack != nil {
					bo.Rack = *b.Rack
				}
				brokers = append(brokers, bo)
			}
			sort.Slice(brokers, func(i, j int) bool { return brokers[i].ID < brokers[j].ID })
			if c.json() {
				return c.writeJSON(struct {
					ClusterID  string      `json:"cluster_id"`
					Controller int32       `json:"controller"`
					Brokers    []brokerOut `json:"brokers"`
				}{md.Cluster, md.Controller, brokers})
			}
			fmt.Fprintf(c.stdout, "CLUSTER     %s\nCONTROLLER  %d\n\n", md.Cluster, md.Controller)
			var rows [][]string
			for _, b := range brokers {
				id := itoa(b.ID)
				if b.ID == md.Controller {
					id += "*"
				}
				rows = append(rows, []string{id, b.Address, b.Rack})
			}
			return c.table([]string{"ID", "ADDRESS", "RACK"}, rows)
		}),
	}
}

func (c *cli) clusterConfigCmd() *cobra.Command {
	var id int32
	cmd := &cobra.Command{
		Use:   "config",
		Short: "a broker's configuration (DescribeConfigs)",
		Args:  exactArgs(0),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			if id < 0 {
				md, err := adm.BrokerMetadata(ctx)
				if err != nil {
					return err
				}
				if len(md.Brokers) == 0 {
					return fmt.Errorf("the cluster lists no brokers")
				}
				id = md.Brokers.NodeIDs()[0]
			}
			rcs, err := adm.DescribeBrokerConfigs(ctx, id)
			if err != nil {
				return err
			}
			configs := []configOut{}
			for _, rc := range rcs {
				if rc.Err != nil {
					return fmt.Errorf("broker %d configs: %v", id, rc.Err)
				}
				for _, cf := range rc.Configs {
					v := cf.MaybeValue()
					if cf.Sensitive {
						v = "(sensitive)"
					}
					configs = append(configs, configOut{cf.Key, v, cf.Source.String()})
				}
			}
			sort.Slice(configs, func(i, j int) bool { return configs[i].Key < configs[j].Key })
			if c.json() {
				return c.writeJSON(struct {
					Broker  int32       `json:"broker"`
					Configs []configOut `json:"configs"`
				}{id, configs})
			}
			var rows [][]string
			for _, cf := range configs {
				rows = append(rows, []string{cf.Key, cf.Value, cf.Source})
			}
			return c.table([]string{"CONFIG", "VALUE", "SOURCE"}, rows)
		}),
	}
	cmd.Flags().Int32Var(&id, "broker", -1, "broker id (default: the lowest)")
	return cmd
}

type healthOut struct {
	Healthy                   bool     `json:"healthy"`
	Brokers                   int      `json:"brokers"`
	Controller                int32    `json:"controller"`
	Topics                    int      `json:"topics"`
	Partitions                int      `json:"partitions"`
	LeaderlessPartitions      []string `json:"leaderless_partitions"`
	UnderReplicatedPartitions []string `json:"under_replicated_partitions"`
}

func (c *cli) clusterHealthCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "whether every partition has a leader and a full ISR (exit 1 if not)",
		Args:  exactArgs(0),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			md, err := adm.Metadata(ctx)
			if err != nil {
				return err
			}
			h := healthOut{Brokers: len(md.Brokers), Controller: md.Controller, Topics: len(md.Topics),
				LeaderlessPartitions: []string{}, UnderReplicatedPartitions: []string{}}
			for _, td := range md.Topics.Sorted() {
				if td.Err != nil {
					return fmt.Errorf("topic %s: %v", td.Topic, td.Err)
				}
				for _, p := range td.Partitions.Sorted() {
					h.Partitions++
					name := fmt.Sprintf("%s/%d", td.Topic, p.Partition)
					if p.Leader < 0 || errors.Is(p.Err, kerr.LeaderNotAvailable) {
						h.LeaderlessPartitions = append(h.LeaderlessPartitions, name)
					}
					if len(p.ISR) < len(p.Replicas) {
						h.UnderReplicatedPartitions = append(h.UnderReplicatedPartitions, name)
					}
				}
			}
			h.Healthy = md.Controller >= 0 && len(h.LeaderlessPartitions) == 0 && len(h.UnderReplicatedPartitions) == 0
			if c.json() {
				if err := c.writeJSON(h); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(c.stdout, "HEALTHY                  %t\nBROKERS                  %d\nCONTROLLER               %d\nTOPICS                   %d\nPARTITIONS               %d\nLEADERLESS PARTITIONS    %d %v\nUNDER-REPLICATED         %d %v\n",
					h.Healthy, h.Brokers, h.Controller, h.Topics, h.Partitions,
					len(h.LeaderlessPartitions), h.LeaderlessPartitions, len(h.UnderReplicatedPartitions), h.UnderReplicatedPartitions)
			}
			if !h.Healthy {
				return errSilent
			}
			return nil
		}),
	}
}
