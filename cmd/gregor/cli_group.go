package main

import "github.com/spf13/cobra"

func (c *cli) groupCmd() *cobra.Command {
	return &cobra.Command{Use: "group", Short: "consumer groups"}
}
func (c *cli) clusterCmd() *cobra.Command { return &cobra.Command{Use: "cluster", Short: "cluster"} }
