package main

import "github.com/spf13/cobra"

func (c *cli) clusterCmd() *cobra.Command { return &cobra.Command{Use: "cluster", Short: "cluster"} }
