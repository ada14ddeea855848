package nemesis

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An Anomaly is a violated safety property with the shortest slice of the
// history that shows it.
type Anomaly struct {
	Kind   string // lost, moved, duplicate, reordered, divergent, phantom, commit-backwards, no-convergence, aborted-read, txn-lost, txn-partial, txn-duplicate
	Detail string
	Ops    []Op
}

// Final is the final read: every record of every partition of a topic, in
// offset order.
type Final map[string]map[int32][]Seen

// Report is what the checkers found.
type Report struct {
	Anomalies []Anomaly

	Acked         int // acks=all records acknowledged
	Indeterminate int // acks=all produces that failed or timed out
	Acks1Acked    int // acks=1 records acknowledged
	Acks1Lost     int // of those, missing from the final read (allowed)
	Acks1Dups     int // acks=1 records read back more than once (allowed: no idempotence)
	Seen          int // records consumers received during the run
	Commits       int // successful offset commits
	Txn           TxnReport
}

// Check runs every checker over a history and the final read. allTopic is
// the acks=all idempotent producers' topic, acks1Topic the acks=1
// producer's.
func Check(ops []Op, final Final, allTopic, acks1Topic string) Report {
	var r Report
	type at struct {
		p   int32
		off int64
	}
	where := map[string][]at{} // value -> where the final read has it
	for topic, parts := range final {
		for p, recs := range parts {
			for _, s := range recs {
				where[topic+"\x00"+s.Value] = append(where[topic+"\x00"+s.Value], at{p, s.Offset})
			}
		}
	}
	produced := map[string]Op{} // topic\x00value -> its produce op
	var faults []Op
	for _, op := range ops {
		switch op.F {
		case "produce":
			produced[op.Topic+"\x00"+op.Value] = op
		case "fault", "heal", "converge":
			faults = append(faults, op)
		}
	}
	// faultsSince is the nemesis's operations that may have caused an
	// anomaly of an operation invoked at t: from t on, up to the first
	// heal invoked after the operation completed (or a minute later).
	faultsSince := func(op Op) []Op {
		var out []Op
		for _, f := range faults {
			if f.End.Before(op.Start) || f.F == "converge" {
				continue
			}
			out = append(out, f)
			if f.F == "heal" && f.Start.After(op.End) {
				break
			}
		}
		return out
	}

	// Lost and moved acknowledged records; acks=1 losses are counted.
	for _, op := range ops {
		if op.F != "produce" {
			continue
		}
		if op.Type != OK {
			if op.Topic == allTopic {
				r.Indeterminate++
			}
			continue
		}
		got := where[op.Topic+"\x00"+op.Value]
		if op.Topic == acks1Topic {
			r.Acks1Acked++
			if len(got) == 0 {
				r.Acks1Lost++
			}
			continue
		}
		r.Acked++
		switch {
		case len(got) == 0:
			r.Anomalies = append(r.Anomalies, Anomaly{Kind: "lost",
				Detail: fmt.Sprintf("%s/%d %q acknowledged at offset %d is not in the final read", op.Topic, op.Partition, op.Value, op.Offset),
				Ops:    append([]Op{op}, faultsSince(op)...)})
		case got[0].p != op.Partition || got[0].off != op.Offset:
			r.Anomalies = append(r.Anomalies, Anomaly{Kind: "moved",
				Detail: fmt.Sprintf("%s/%d %q acknowledged at offset %d is at %d/%d in the final read", op.Topic, op.Partition, op.Value, op.Offset, got[0].p, got[0].off),
				Ops:    append([]Op{op}, faultsSince(op)...)})
		}
	}

	// Duplicates, phantoms and per-producer order, from the final read.
	for _, topic := range sortedKeys(final) {
		parts := final[topic]
		for _, p := range sortedKeys(parts) {
			last := map[string]Seen{} // producer -> its last record in this partition
			for _, s := range parts[p] {
				key := topic + "\x00" + s.Value
				if n := len(where[key]); n > 1 && where[key][0].off == s.Offset {
					if topic == acks1Topic {
						r.Acks1Dups++
					} else {
						var sl []Op
						if op, ok := produced[key]; ok {
							sl = append([]Op{op}, faultsSince(op)...)
						}
						r.Anomalies = append(r.Anomalies, Anomaly{Kind: "duplicate",
							Detail: fmt.Sprintf("%s %q is in the final read %d times: %v", topic, s.Value, n, where[key]), Ops: sl})
					}
				}
				op, ok := produced[key]
				if !ok {
					r.Anomalies = append(r.Anomalies, Anomaly{Kind: "phantom",
						Detail: fmt.Sprintf("%s/%d offset %d holds %q, which no producer sent", topic, p, s.Offset, s.Value)})
					continue
				}
				prod, seq, ok := parseValue(s.Value)
				if !ok || topic != allTopic {
					continue // acks=1 without idempotence may reorder on retries
				}
				if prev, ok := last[prod]; ok {
					if _, pseq, _ := parseValue(prev.Value); pseq >= seq {
						r.Anomalies = append(r.Anomalies, Anomaly{Kind: "reordered",
							Detail: fmt.Sprintf("%s/%d: %q at offset %d after %q at offset %d", topic, p, s.Value, s.Offset, prev.Value, prev.Offset),
							Ops:    []Op{produced[topic+"\x00"+prev.Value], op}})
					}
				}
				last[prod] = s
			}
		}
	}

	// What consumers saw during the run against the final read: each
	// offset holds one record only.
	for _, op := range ops {
		if op.F != "poll" {
			continue
		}
		for _, s := range op.Seen {
			r.Seen++
			recs := final[op.Topic][s.Partition]
			i, found := slices.BinarySearchFunc(recs, s.Offset, func(a Seen, off int64) int { return cmp.Compare(a.Offset, off) })
			switch {
			case !found:
				r.Anomalies = append(r.Anomalies, Anomaly{Kind: "divergent",
					Detail: fmt.Sprintf("%s/%d offset %d: a consumer saw %q, the final read has no record there", op.Topic, s.Partition, s.Offset, s.Value),
					Ops:    append([]Op{onlySeen(op, s)}, faultsSince(op)...)})
			case recs[i].Value != s.Value:
				r.Anomalies = append(r.Anomalies, Anomaly{Kind: "divergent",
					Detail: fmt.Sprintf("%s/%d offset %d: a consumer saw %q, the final read has %q", op.Topic, s.Partition, s.Offset, s.Value, recs[i].Value),
					Ops:    append([]Op{onlySeen(op, s)}, faultsSince(op)...)})
			}
		}
	}

	r.Anomalies = append(r.Anomalies, checkCommits(ops, &r)...)

	for _, op := range ops {
		if op.F == "converge" && op.Type != OK {
			r.Anomalies = append(r.Anomalies, Anomaly{Kind: "no-convergence", Detail: op.Detail + ": " + op.Err,
				Ops: append(faultsSince(Op{Start: op.Start.Add(-time.Minute), End: op.Start}), op)})
		}
	}
	return r
}

// checkCommits: a group's committed offset of a partition never moves
// backwards (the workload never seeks). A successful commit, or a read of
// the committed offsets, invoked after another successful commit or read
// completed, must not show a lower offset than it.
func checkCommits(ops []Op, r *Report) []Anomaly {
	var cs []Op
	for _, op := range ops {
		if (op.F == "commit" || op.F == "fetch-offsets") && op.Type == OK {
			cs = append(cs, op)
			if op.F == "commit" {
				r.Commits++
			}
		}
	}
	byEnd := slices.Clone(cs)
	slices.SortFunc(byEnd, func(a, b Op) int { return a.End.Compare(b.End) })
	slices.SortFunc(cs, func(a, b Op) int { return a.Start.Compare(b.Start) })
	high := map[int32]Op{} // partition -> the op that showed its highest offset so far
	var out []Anomaly
	j := 0
	for _, op := range cs {
		for ; j < len(byEnd) && byEnd[j].End.Before(op.Start); j++ {
			for p, off := range byEnd[j].Offsets {
				if h, ok := high[p]; !ok || off > h.Offsets[p] {
					high[p] = byEnd[j]
				}
			}
		}
		for p, off := range op.Offsets {
			if h, ok := high[p]; ok && off < h.Offsets[p] {
				out = append(out, Anomaly{Kind: "commit-backwards",
					Detail: fmt.Sprintf("partition %d: %s shows offset %d after %s completed with %d", p, op.F, off, h.F, h.Offsets[p]),
					Ops:    []Op{h, op}})
			}
		}
	}
	return out
}

// onlySeen is a poll op cut down to one of its records.
func onlySeen(op Op, s Seen) Op {
	op.Seen = []Seen{s}
	return op
}

// parseValue splits a workload value, <producer>-<sequence>.
func parseValue(v string) (producer string, seq int64, ok bool) {
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(v[i+1:], 10, 64)
	return v[:i], n, err == nil
}

func sortedKeys[K string | int32, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
