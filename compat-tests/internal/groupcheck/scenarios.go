package groupcheck

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// TakeoverLimit is the longest group_kill accepts between the SIGKILL and
// the survivors processing a record of every partition the dead member had:
// its session timeout expiring (at most 6 s after its last heartbeat), one
// heartbeat for the survivors to hear of the rebalance, and the rejoin.
const TakeoverLimit = 2 * SessionTimeout

// Kill runs group_kill: three members of cfg.Client share a 12-partition
// topic (4 each, checked against DescribeGroups and, where the client
// reports it, against the client's own assignment) while records are
// produced every 5 ms; once every partition has a commit, member 0 gets
// SIGKILL. The two others must be processing all of its partitions within
// TakeoverLimit, starting exactly at the offsets it had committed, and in
// the end every acknowledged record must have been processed (read back
// at the partition and offset it was written to) at least once.
func Kill(cfg Config) (detail string, err error) {
	r, err := newRun(cfg, "group_kill")
	defer func() {
		if r != nil {
			r.finish(&err)
		}
	}()
	if err != nil {
		return "", err
	}
	prod, err := r.newProducer()
	if err != nil {
		return "", err
	}
	defer prod.cl.Close()
	prod.every(r.topic, 5*time.Millisecond)
	defer func() {
		if prod.stop != nil {
			_ = prod.halt()
		}
	}()

	var ms []*member
	for i := 0; i < Members; i++ {
		m, err := r.startMember(i, 0)
		if err != nil {
			return "", err
		}
		ms = append(ms, m)
	}
	start := time.Now()
	view, err := r.waitStable(ms, 60*time.Second)
	if err != nil {
		return "", err
	}
	r.logf("stable after %.1fs: %v", time.Since(start).Seconds(), view)
	// Every member commits on every partition it now owns (progress past
	// what was committed when the group settled), and works a while.
	c0, err := r.committed()
	if err != nil {
		return "", err
	}
	if _, err := r.waitCommitted("commits under the settled assignment on every partition", 30*time.Second, func(p int32, c int64) bool { return c > c0[p] }); err != nil {
		return "", err
	}
	time.Sleep(time.Second)
	victim := ms[0]
	victimParts := view[victim.id]
	survivors := ms[1:]

	r.kill(victim)
	killedAt := time.Now()
	r.logf("SIGKILLed %s (partitions %v)", victim.id, victimParts)
	// A commit the victim had already written to its socket can still
	// arrive; after that its commits are final.
	time.Sleep(300 * time.Millisecond)
	atKill, err := r.committed()
	if err != nil {
		return "", err
	}

	// Takeover: a survivor processed a record of every victim partition.
	first := map[int32]rec{}
	err = r.waitFor("survivors processing the killed member's partitions", TakeoverLimit+10*time.Second, func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, x := range r.recs {
			if x.m != victim.idx && x.at.After(killedAt) && contains(victimParts, x.p) {
				if _, ok := first[x.p]; !ok {
					first[x.p] = x
				}
			}
		}
		if len(first) < len(victimParts) {
			return fmt.Sprintf("%d of %d partitions taken over", len(first), len(victimParts))
		}
		return ""
	})
	if err != nil {
		return "", err
	}
	var takeover time.Duration
	for _, x := range first {
		if d := x.at.Sub(killedAt); d > takeover {
			takeover = d
		}
	}
	after, err := r.waitStable(survivors, 30*time.Second)
	if err != nil {
		return "", err
	}
	groupAt := time.Since(killedAt)
	r.logf("takeover %.1fs, survivors %v", takeover.Seconds(), after)
	for _, p := range victimParts {
		if x := first[p]; x.off != atKill[p] {
			return "", fmt.Errorf("partition %d: survivor %d started at offset %d, the killed member had committed %d", p, x.m, x.off, atKill[p])
		}
	}
	if takeover > TakeoverLimit {
		return "", fmt.Errorf("takeover took %.1fs, limit %v (session timeout %v)", takeover.Seconds(), TakeoverLimit, SessionTimeout)
	}

	time.Sleep(1500 * time.Millisecond) // survivors keep up with new records too
	if err := prod.halt(); err != nil {
		return "", err
	}
	if err := r.waitAllProcessed(prod, 30*time.Second); err != nil {
		return "", err
	}
	acked := prod.snapshot()
	r.mu.Lock()
	processed, victimRecs := len(r.recs), 0
	for _, x := range r.recs {
		if x.m == victim.idx {
			victimRecs++
		}
	}
	r.mu.Unlock()
	for _, m := range survivors {
		if err := r.term(m, 20*time.Second); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("4+4+4 of 12 partitions; kill -9 of the member on %s: 6+6 processing them after %.1fs (Stable by %.1fs, session %v), from its commits; %d produced, all processed (%d deliveries, %d by the killed one)",
		fmtParts(victimParts), takeover.Seconds(), groupAt.Seconds(), SessionTimeout, len(acked), processed, victimRecs), nil
}

func contains(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// Restart runs group_restart: three members consume 40 records per
// partition and commit them, stop (leaving the group), 20 more per
// partition are produced, the broker is restarted (SIGTERM, same data
// directory); kadm must then see the Empty group with commit 40, end 60
// and lag 20 on every partition. Three new members must resume exactly at
// offset 40 on every partition (no record below it processed again, none
// from 40 to 59 missed), and kadm then describes the Stable group: 3
// members of 4 partitions and lag 0 = end - commit everywhere.
func Restart(cfg Config) (detail string, err error) {
	const before, more = 40, 20
	r, err := newRun(cfg, "group_restart")
	defer func() {
		if r != nil {
			r.finish(&err)
		}
	}()
	if err != nil {
		return "", err
	}
	prod, err := r.newProducer()
	if err != nil {
		return "", err
	}
	prodOpen := true
	defer func() {
		if prodOpen {
			prod.cl.Close()
		}
	}()
	if err := prod.burst(r.topic, before); err != nil {
		return "", err
	}
	var ms []*member
	for i := 0; i < Members; i++ {
		m, err := r.startMember(i, 0)
		if err != nil {
			return "", err
		}
		ms = append(ms, m)
	}
	if _, err := r.waitStable(ms, 60*time.Second); err != nil {
		return "", err
	}
	if err := r.waitAllProcessed(prod, 30*time.Second); err != nil {
		return "", err
	}
	if _, err := r.waitCommitted(fmt.Sprintf("commit %d on every partition", before), 30*time.Second, func(_ int32, c int64) bool { return c == before }); err != nil {
		return "", err
	}
	for _, m := range ms {
		if err := r.term(m, 20*time.Second); err != nil {
			return "", err
		}
	}
	if err := prod.burst(r.topic, more); err != nil {
		return "", err
	}
	prod.cl.Close()
	prodOpen = false

	restartStart := time.Now()
	if err := r.broker.Restart(); err != nil {
		return "", fmt.Errorf("restart broker: %w", err)
	}
	restartTook := time.Since(restartStart)
	if err := r.newAdmin(); err != nil {
		return "", err
	}
	r.logf("broker restarted in %.1fs", restartTook.Seconds())

	// The Empty group after the restart: its commits survived, lag is
	// what was produced after them.
	var emptyState string
	if err := r.waitFor("lag of the Empty group after the restart", 30*time.Second, func() string {
		st, msg := r.checkLag(0, before, before+more)
		emptyState = st
		return msg
	}); err != nil {
		return "", err
	}

	restartedAt := time.Now()
	ms = ms[:0]
	for i := 0; i < Members; i++ {
		m, err := r.startMember(i, 1)
		if err != nil {
			return "", err
		}
		ms = append(ms, m)
	}
	if _, err := r.waitStable(ms, 60*time.Second); err != nil {
		return "", err
	}
	// Every record from 40 on, and nothing below it, in the second
	// generation.
	err = r.waitFor("second generation processing offsets 40..59 of every partition", 30*time.Second, func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		got := map[int32]map[int64]bool{}
		for _, x := range r.recs {
			if x.gen != 1 {
				continue
			}
			if x.off < before {
				return fmt.Sprintf("FATAL partition %d: member %d processed offset %d after the restart, below the committed %d", x.p, x.m, x.off, before)
			}
			if got[x.p] == nil {
				got[x.p] = map[int64]bool{}
			}
			got[x.p][x.off] = true
		}
		for p := int32(0); p < Partitions; p++ {
			if len(got[p]) != more {
				return fmt.Sprintf("partition %d: %d of %d offsets processed", p, len(got[p]), more)
			}
		}
		return ""
	})
	if err != nil {
		return "", err
	}
	if err := r.firstAfterRestart(before); err != nil {
		return "", err
	}
	resumed := time.Since(restartedAt)
	var stableState string
	if err := r.waitFor("describe Stable group with lag 0", 30*time.Second, func() string {
		st, msg := r.checkLag(Members, before+more, before+more)
		stableState = st
		return msg
	}); err != nil {
		return "", err
	}
	for _, m := range ms {
		if err := r.term(m, 20*time.Second); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("commit %d/partition, broker restart %.1fs; kadm %s: commit %d end %d lag %d x12; new members resumed at %d x12 in %.1fs; kadm %s 4+4+4, commit=end=%d, lag 0",
		before, restartTook.Seconds(), emptyState, before, before+more, more, before, resumed.Seconds(), stableState, before+more), nil
}

// firstAfterRestart checks that each partition's first record after the
// restart was at the committed offset.
func (r *run) firstAfterRestart(committed int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := map[int32]rec{}
	for _, x := range r.recs {
		if x.gen != 1 {
			continue
		}
		if _, ok := first[x.p]; !ok {
			first[x.p] = x
		}
	}
	for p := int32(0); p < Partitions; p++ {
		if x, ok := first[p]; !ok || x.off != committed {
			return fmt.Errorf("partition %d: first record after the restart at offset %d, committed %d", p, x.off, committed)
		}
	}
	return nil
}

// checkLag describes the group with kadm.Lag and checks members, commit,
// end and lag on every partition. It returns the group state and "" when
// everything matches. A message starting with FATAL is not retried.
func (r *run) checkLag(members int, commit, end int64) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := r.adm.Lag(ctx, r.group)
	if err != nil {
		return "", "lag: " + err.Error()
	}
	l, ok := lags[r.group]
	if !ok {
		return "", "group missing from Lag"
	}
	if err := l.Error(); err != nil {
		return l.State, "lag: " + err.Error()
	}
	wantState := "Empty"
	if members > 0 {
		wantState = "Stable"
	}
	if l.State != wantState || len(l.Members) != members {
		return l.State, fmt.Sprintf("state %s with %d members, want %s with %d", l.State, len(l.Members), wantState, members)
	}
	perMember := map[string]int{}
	var bad []string
	for p := int32(0); p < Partitions; p++ {
		ml, ok := l.Lag.Lookup(r.topic, p)
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("p%d: no lag entry", p))
		case ml.Err != nil:
			bad = append(bad, fmt.Sprintf("p%d: %v", p, ml.Err))
		case ml.Commit.At != commit || ml.End.Offset != end || ml.Lag != end-commit:
			bad = append(bad, fmt.Sprintf("p%d: commit %d end %d lag %d, want %d %d %d", p, ml.Commit.At, ml.End.Offset, ml.Lag, commit, end, end-commit))
		case members > 0 && ml.Member == nil:
			bad = append(bad, fmt.Sprintf("p%d: no member", p))
		case members == 0 && ml.Member != nil:
			bad = append(bad, fmt.Sprintf("p%d: member %s in an Empty group", p, ml.Member.ClientID))
		}
		if ml.Member != nil {
			perMember[ml.Member.ClientID]++
		}
	}
	if members > 0 {
		for id, n := range perMember {
			if n != Partitions/members {
				bad = append(bad, fmt.Sprintf("%s has %d partitions", id, n))
			}
		}
		if len(perMember) != members {
			bad = append(bad, fmt.Sprintf("%d members own partitions, want %d", len(perMember), members))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return l.State, fmt.Sprintf("%v", bad)
	}
	return l.State, ""
}
