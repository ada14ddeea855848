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

	"gregor/gregortest"
)

// scrape returns the value of one unlabelled gauge from a broker's
// /metrics, and false when the broker or its HTTP listener is down.
func scrape(b *gregortest.Broker, name string) (float64, bool) {
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
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
	sum := func() (float64, string) {
		var total float64
		var each []string
		for i := range c.Len() {
			v, ok := scrape(c.Broker(i), "gregor_under_replicated_partitions")
			if ok {
				total += v
			}
			each = append(each, fmt.Sprintf("%d:%v/%v", c.Broker(i).ID(), v, ok))
		}
		return total, strings.Join(each, " ")
	}
	c.WaitFor("every partition fully replicated", 60*time.Second, func() bool { v, _ := sum(); return v == 0 })

	c.Kill(2)
	var seen string
	c.WaitFor("3 under-replicated partitions on the survivors", 60*time.Second, func() bool {
		v, each := sum()
		seen = each
		return v == 3
	})
	t.Logf("node 3 down: %s", seen)

	c.Restart(2)
	c.WaitFor("under-replicated partitions cleared", 60*time.Second, func() bool {
		v, each := sum()
		seen = each
		return v == 0
	})
	t.Logf("node 3 back: %s", seen)
}
