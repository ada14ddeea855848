package main

// -kills N: kill partition 0's current leader N times in a row.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// killLoop repeats, *kills times and with the load running: find the
// current leader of partition 0 (all three nodes agreeing), `docker kill`
// it, wait until both survivors name new leaders and no longer list it and
// -during more records per partition are acknowledged and read, `docker
// start` it and wait until it is back in every ISR. It stops at the first
// failed round and prints a table of the rounds.
func killLoop(ctx context.Context, admCl *kgo.Client, st *state, topic string) {
	var rounds []failStats
	t0 := time.Now()
	for i := 1; i <= *kills && !failed; i++ {
		name := fmt.Sprintf("kill_loop_%d", i)
		m, err := clusterView(ctx, admCl, topic)
		if err != nil {
			result(name, err, "")
			break
		}
		victim := m.Topics[topic].Partitions[0].Leader
		logf("kill %d of %d: partition 0's leader is node %d (controller: node %d)", i, *kills, victim, m.Controller)
		rounds = append(rounds, failover(ctx, admCl, st, topic, name, "kill", victim))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %-6s %-10s %-8s %-12s %-9s %-10s %-9s %-9s %-9s %-6s %s\n",
		"kill", "node", "controller", "led", "new_leaders", "unlisted", "max_pause", "answered", "listed", "isr_back", "trunc", "live_fenced")
	var moved, pauses, back []float64
	for i, r := range rounds {
		fmt.Fprintf(&b, "%-5d %-6d %-10v %-8s %-12s %-9s %-10s %-9s %-9s %-9s %-6d %d\n", i+1, r.victim, r.controller, fmt.Sprint(r.led),
			secs(r.leaderMoved), secs(r.gone), secs(r.stall), secs(r.answered), secs(r.listed), secs(r.rejoined), r.truncated, r.liveFenced)
		if r.ok {
			moved = append(moved, r.leaderMoved.Seconds())
			pauses = append(pauses, r.stall.Seconds())
			back = append(back, r.rejoined.Seconds())
		}
	}
	fmt.Print(b.String())
	ok := 0
	for _, r := range rounds {
		if r.ok {
			ok++
		}
	}
	var err error
	if ok < *kills {
		err = fmt.Errorf("%d of %d kills passed", ok, *kills)
	}
	result("kill_loop", err, "%d kills of partition 0's leader in %.0fs: new leaders after %s; longest pause between acks %s; back in every ISR after %s (min/median/max)",
		ok, time.Since(t0).Seconds(), spread(moved), spread(pauses), spread(back))
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// spread is "min/median/max" of xs, in seconds.
func spread(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return fmt.Sprintf("%.2f/%.2f/%.2fs", xs[0], xs[len(xs)/2], xs[len(xs)-1])
}

// truncations returns the "truncating diverged replica" lines a node
// logged for topic since a time: the replica dropped a log tail that the
// leader does not have.
func truncations(ctx context.Context, ctr string, since time.Time, topic string) []string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", "--since", since.Add(-time.Second).Format(time.RFC3339Nano), ctr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return []string{fmt.Sprintf("docker logs: %v", err)}
	}
	var found []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "truncating diverged replica") {
			continue
		}
		var l struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			From      int64  `json:"from"`
			To        int64  `json:"to"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			found = append(found, line)
			continue
		}
		if l.Topic == topic {
			found = append(found, fmt.Sprintf("p%d truncated from %d to %d", l.Partition, l.From, l.To))
		}
	}
	return found
}

// fencedLive checks the survivors' logs since a failure for "broker
// session expired, fenced" of a broker other than victim: the active
// controller fenced a live broker (its partitions lost their leader, it
// left every ISR). It prints a RESULT line, WARN unless -strict, and
// returns the fencings it found.
func fencedLive(ctx context.Context, name string, survivors []int32, victim int32, since time.Time) []string {
	var found []string
	for _, n := range survivors {
		ctr, ok := ctrs[n]
		if !ok {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := exec.CommandContext(lctx, "docker", "logs", "--since", since.Add(-time.Second).Format(time.RFC3339Nano), ctr).CombinedOutput()
		cancel()
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if !strings.Contains(sc.Text(), "broker session expired, fenced") {
				continue
			}
			var l struct {
				Broker int32  `json:"broker"`
				Time   string `json:"time"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Broker != victim {
				found = append(found, fmt.Sprintf("node %d fenced live broker %d at %s", n, l.Broker, l.Time))
			}
		}
	}
	if len(found) == 0 {
		result(name+"_no_live_fenced", nil, "no live broker fenced (only node %d)", victim)
		return nil
	}
	err := fmt.Errorf("the controller fenced live brokers: %s", strings.Join(found, "; "))
	if *strict {
		result(name+"_no_live_fenced", err, "")
	} else {
		fmt.Printf("RESULT cluster %s_no_live_fenced WARN %v (a broker bug: a BrokerHeartbeat stuck on the unreachable old controller outlasts broker.session.timeout.ms; -strict makes this a failure)\n", name, err)
	}
	return found
}
