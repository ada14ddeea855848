package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterUnregisterCmd removes a stopped broker's registration
// (UnregisterBroker, as kafka-cluster.sh unregister --id).
func (c *cli) clusterUnregisterCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unregister ID",
		Short: "remove stopped broker ID from the cluster metadata (move its partitions away first)",
		Args:  exactArgs(1),
		RunE: c.withClient(func(ctx context.Context, cl *kgo.Client, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usageErrorf("broker id %q: want a number >= 0", args[0])
			}
			req := kmsg.NewPtrUnregisterBrokerRequest()
			req.BrokerID = int32(id)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return c.voterChangeResult("unregistered broker", int32(id), resp.ErrorCode, resp.ErrorMessage)
		}),
	}
}
