package gregortest_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/gregortest"
)

// scrape returns the value of one unlabelled gauge from broker i's
// /metrics (as the super user in a secured cluster), and false when the
// broker or its HTTP listener is down.
func scrape(c *gregortest.Cluster, i int, name string) (float64, bool) {
	b := c.Broker(i)
	if !b.Running() {
		return 0, false
	}
	addr := b.Server().HTTPAddr()
	if addr == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+"/metrics", nil)
	if c.Secured() {
		req.SetBasicAuth(gregortest.SecureUser, gregortest.SecurePassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestUnderReplicatedMetric (issue 16, done-means 2): with one node of
// three killed, the survivors' gregor_under_replicated_partitions add up
// to every partition of an RF 3 topic, and they clear to 0 once the node
// is back in the ISR.
func TestUnderReplicatedMetric(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override(
		"http.listeners=http://127.0.0.1:0", "replica.lag.time.max.ms=1500", "broker.session.timeout.ms=3000"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := c.Client()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "urp"); err != nil {
		t.Fatal(err)
	}
	// sum adds the brokers' gauges up; n is how many answered.
	sum := func() (total float64, n int, seen string) {
		var each []string
		for i := range c.Len() {
			v, ok := scrape(c, i, "gregor_under_replicated_partitions")
			if ok {
				total += v
				n++
			}
			each = append(each, fmt.Sprintf("%d:%v/%v", c.Broker(i).ID(), v, ok))
		}
		return total, n, strings.Join(each, " ")
	}
	c.WaitFor("every partition fully replicated", 60*time.Second, func() bool { v, n, _ := sum(); return v == 0 && n == 3 })

	c.Kill(2)
	var seen string
	c.WaitFor("3 under-replicated partitions on the survivors", 60*time.Second, func() bool {
		v, _, each := sum()
		seen = each
		return v == 3
	})
	t.Logf("node 3 down: %s", seen)

	c.Restart(2)
	c.WaitFor("under-replicated partitions cleared", 60*time.Second, func() bool {
		v, n, each := sum()
		seen = each
		return v == 0 && n == 3
	})
	t.Logf("node 3 back: %s", seen)
}

// TestClusterGroupLagMetric: in a cluster the group's coordinator counts
// the lag of partitions led by other brokers too (their high watermarks
// from the leaders): an RF 1 topic spread over three nodes, 100 records
// and a commit at 40 in each partition, 180 of lag in total and 60 per
// partition, reported once.
func TestClusterGroupLagMetric(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("http.listeners=http://127.0.0.1:0"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "lagt"); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lagt", Partition: int32(i % 3), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	for p := range int32(3) {
		offs.Add(kadm.Offset{Topic: "lagt", Partition: p, At: 40, LeaderEpoch: -1})
	}
	if err := adm.CommitAllOffsets(ctx, "G", offs); err != nil {
		t.Fatal(err)
	}
	var seen string
	c.WaitFor("the coordinator's lag of every partition", 30*time.Second, func() bool {
		var total float64
		var parts, reporters int
		var each []string
		for i := range c.Len() {
			tl, ok := scrape(c, i, `gregor_consumer_group_topic_lag{group="G",topic="lagt"}`)
			if ok {
				total += tl
				reporters++
			}
			for p := range 3 {
				if v, ok := scrape(c, i, fmt.Sprintf(`gregor_consumer_group_lag{group="G",partition="%d",topic="lagt"}`, p)); ok && v == 60 {
					parts++
				}
			}
			each = append(each, fmt.Sprintf("%d:%v/%v", c.Broker(i).ID(), tl, ok))
		}
		seen = strings.Join(each, " ")
		return total == 180 && reporters == 1 && parts == 3
	})
	t.Logf("topic lag by broker: %s", seen)
}
