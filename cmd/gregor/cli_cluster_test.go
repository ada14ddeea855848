package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gregor/gregortest"
)

func TestCLIClusterInfoConfig(t *testing.T) {
	b := target(t)
	addr := strings.Split(b, ",")[0]
	out := mustCLI(t, b, "", "cluster", "info")
	id := "1"
	if externalBrokers != "" {
		id = "0" // kfake numbers its brokers from 0
	}
	want := "\n" + id + "*  " + addr
	if !strings.HasPrefix(out, "CLUSTER     ") || !strings.Contains(out, "CONTROLLER  "+id+"\n") || !strings.Contains(out, want) {
		t.Errorf("cluster info:\n%s\nwant it to end with:\n%s", out, want)
	}
	var info struct {
		ClusterID string      `json:"cluster_id"`
		Brokers   []brokerOut `json:"brokers"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "cluster", "info")), &info); err != nil || info.ClusterID == "" || len(info.Brokers) != 1 || info.Brokers[0].Address != addr {
		t.Errorf("cluster info json: %v %+v", err, info)
	}
	if out := mustCLI(t, b, "", "cluster", "config"); !strings.Contains(out, "\nlog.retention.ms  ") || !strings.Contains(out, "\nmin.insync.replicas  ") {
		t.Errorf("cluster config lacks log.retention.ms or min.insync.replicas:\n%s", out)
	}
	if out := mustCLI(t, b, "", "cluster", "health"); !strings.HasPrefix(out, "HEALTHY                  true\n") {
		t.Errorf("cluster health:\n%s", out)
	}
}

// TestCLIClusterHealth: a stopped replica makes the cluster unhealthy
// (exit 1, the partitions named) until it is back.
func TestCLIClusterHealth(t *testing.T) {
	gregorOnly(t)
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	b := strings.Join(c.Seeds(), ",")
	mustCLI(t, b, "", "topic", "create", "h", "-p", "1", "-r", "3")
	c.WaitFor("healthy", 30*time.Second, func() bool {
		_, _, code := runCLI(t, b, "", "cluster", "health")
		return code == 0
	})
	c.Stop(2)
	b = strings.Join(c.Seeds(), ",")
	var h healthOut
	c.WaitFor("under-replicated", 30*time.Second, func() bool {
		out, _, code := runCLI(t, b, "", "--format", "json", "cluster", "health")
		h = healthOut{}
		return code == 1 && json.Unmarshal([]byte(out), &h) == nil && len(h.UnderReplicatedPartitions) == 1
	})
	if h.Healthy || h.UnderReplicatedPartitions[0] != "h/0" || len(h.LeaderlessPartitions) != 0 {
		t.Errorf("health with a broker down: %+v", h)
	}
	c.Restart(2)
	c.WaitFor("healthy again", 60*time.Second, func() bool {
		_, _, code := runCLI(t, b, "", "cluster", "health")
		return code == 0
	})
}
