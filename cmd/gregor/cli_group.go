package main

import "github.com/spf13/cobra"

func (c *cli) groupCmd() *cobra.Command   { return &cobra.Command{Use: "group", Short: "consumer groups"} }
func (c *cli) clusterCmd() *cobra.Command { return &cobra.Command{Use: "cluster", Short: "cluster"} }
func (c *cli) produceCmd() *cobra.Command { return &cobra.Command{Use: "produce", Short: "produce"} }
func (c *cli) consumeCmd() *cobra.Command { return &cobra.Command{Use: "consume", Short: "consume"} }
