package gregortest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// describeQuorum asks broker b (any broker answers, forwarding to the
// active controller) and returns the quorum's voters and observers.
func describeQuorum(ctx context.Context, b *gregortest.Broker) (voters, observers []int32, p kmsg.DescribeQuorumResponseTopicPartition, resp *kmsg.DescribeQuorumResponse, err error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	kr, err := b.Request(ctx, req)
	if err != nil {
		return nil, nil, p, nil, err
	}
	resp = kr.(*kmsg.DescribeQuorumResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, nil, p, resp, err
	}
	p = resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, nil, p, resp, err
	}
	for _, v := range p.CurrentVoters {
		voters = append(voters, v.ReplicaID)
	}
	for _, o := range p.Observers {
		observers = append(observers, o.ReplicaID)
	}
	slices.Sort(voters)
	slices.Sort(observers)
	return voters, observers, p, resp, nil
}

// waitQuorum waits until every broker describes the quorum with these
// voters and observers, every member caught up to the high watermark.
func waitQuorum(t *testing.T, c *gregortest.Cluster, voters, observers []int32) {
	t.Helper()
	var last string
	ok := func() bool {
		for i := range c.Len() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, o, p, resp, err := describeQuorum(ctx, c.Broker(i))
			cancel()
			if err != nil {
				last = fmt.Sprintf("broker %d: %v", i+1, err)
				return false
			}
			if !slices.Equal(v, voters) || !slices.Equal(o, observers) {
				last = fmt.Sprintf("broker %d: voters %v observers %v", i+1, v, o)
				return false
			}
			for _, r := range slices.Concat(p.CurrentVoters, p.Observers) {
				if r.LogEndOffset < p.HighWatermark || r.LastFetchTimestamp < 0 || r.LastCaughtUpTimestamp < 0 {
					last = fmt.Sprintf("broker %d: replica %+v, high watermark %d", i+1, r, p.HighWatermark)
					return false
				}
			}
			if p.LeaderEpoch <= 0 || !slices.Contains(v, p.LeaderID) || len(resp.Nodes) != len(voters)+len(observers) {
				last = fmt.Sprintf("broker %d: %+v nodes %+v", i+1, p, resp.Nodes)
				return false
			}
			for _, n := range resp.Nodes {
				if len(n.Listeners) != 1 || n.Listeners[0].Name != "CONTROLLER" ||
					fmt.Sprintf("%s:%d", n.Listeners[0].Host, n.Listeners[0].Port) != c.Broker(int(n.NodeID-1)).RaftAddr() {
					last = fmt.Sprintf("broker %d: node %+v", i+1, n)
					return false
				}
			}
		}
		return true
	}
	for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("quorum never became voters %v observers %v on every broker: %s", voters, observers, last)
		}
	}
}

// changeVoter sends AddRaftVoter (add) or RemoveRaftVoter for id to
// broker via, retrying while the controller moves. A retry after an
// answer that left the outcome open accepts DUPLICATE_VOTER (add) or
// VOTER_NOT_FOUND (remove) as done.
// addVoterRequest is AddRaftVoter for broker id at its Raft address.
func addVoterRequest(t *testing.T, c *gregortest.Cluster, id int32) *kmsg.AddRaftVoterRequest {
	t.Helper()
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.VoterID = id
	l := kmsg.NewAddRaftVoterRequestListener()
	var port uint16
	if _, err := fmt.Sscanf(c.Broker(int(id-1)).RaftAddr(), "127.0.0.1:%d", &port); err != nil {
		t.Fatal(err)
	}
	l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", port
	req.Listeners = append(req.Listeners, l)
	return req
}

func changeVoter(t *testing.T, c *gregortest.Cluster, via int, add bool, id int32) time.Duration {
	t.Helper()
	start := time.Now()
	retried := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var code int16
		var msg *string
		var err error
		if add {
			var kr kmsg.Response
			if kr, err = c.Broker(via).Request(ctx, addVoterRequest(t, c, id)); err == nil {
				code, msg = kr.(*kmsg.AddRaftVoterResponse).ErrorCode, kr.(*kmsg.AddRaftVoterResponse).ErrorMessage
			}
		} else {
			req := kmsg.NewPtrRemoveRaftVoterRequest()
			req.VoterID = id
			var kr kmsg.Response
			if kr, err = c.Broker(via).Request(ctx, req); err == nil {
				code, msg = kr.(*kmsg.RemoveRaftVoterResponse).ErrorCode, kr.(*kmsg.RemoveRaftVoterResponse).ErrorMessage
			}
		}
		cancel()
		switch {
		case err == nil && code == 0,
			retried && add && code == kerr.DuplicateVoter.Code,
			retried && !add && code == kerr.VoterNotFound.Code:
			return time.Since(start)
		case err != nil, code == kerr.NotController.Code, code == kerr.RequestTimedOut.Code:
			if time.Since(start) > 60*time.Second {
				t.Fatalf("voter change (add %v) of %d: %v %s %v", add, id, err, kerr.ErrorForCode(code), msg)
			}
			retried = true
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("voter change (add %v) of %d: %s %v", add, id, kerr.ErrorForCode(code), *msg)
		}
	}
}

// TestQuorumGrowAndShrink: five brokers, three of them voters and two
// observers; the observers become voters (5 voters), then node 5 and the
// active controller go back to observers (3 voters), while topics are
// created throughout; every acknowledged topic is then on every broker.
func TestQuorumGrowAndShrink(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(5), gregortest.Voters(3))
	waitQuorum(t, c, []int32{1, 2, 3}, []int32{4, 5})

	admin := kadm.NewClient(c.Client())
	var (
		mu      sync.Mutex
		created []string
		failed  int
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("quorum-%03d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err := admin.CreateTopic(ctx, 1, 3, nil, name)
			cancel()
			mu.Lock()
			if err == nil {
				created = append(created, name)
			} else {
				failed++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	createdSoFar := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(created)
	}
	waitCreated := func(n int) {
		t.Helper()
		c.WaitFor(fmt.Sprintf("%d topics created", n), 60*time.Second, func() bool { return createdSoFar() >= n })
	}

	waitCreated(3)
	// Through an observer (forwarded to the active controller).
	d4 := changeVoter(t, c, 3, true, 4)
	waitCreated(createdSoFar() + 3)
	d5 := changeVoter(t, c, 0, true, 5)
	waitQuorum(t, c, []int32{1, 2, 3, 4, 5}, nil)
	waitCreated(createdSoFar() + 3)

	// Kafka's errors.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dup := kmsg.NewPtrAddRaftVoterRequest()
	dup.VoterID = 4
	l := kmsg.NewAddRaftVoterRequestListener()
	l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", 1
	dup.Listeners = append(dup.Listeners, l)
	if r, err := c.Broker(1).Request(ctx, dup); err != nil || r.(*kmsg.AddRaftVoterResponse).ErrorCode != kerr.DuplicateVoter.Code {
		t.Fatalf("add voter 4 again: %v %+v", err, r)
	}
	rm := kmsg.NewPtrRemoveRaftVoterRequest()
	rm.VoterID = 9
	if r, err := c.Broker(4).Request(ctx, rm); err != nil || r.(*kmsg.RemoveRaftVoterResponse).ErrorCode != kerr.VoterNotFound.Code {
		t.Fatalf("remove voter 9: %v %+v", err, r)
	}

	r5 := changeVoter(t, c, 4, false, 5)
	waitCreated(createdSoFar() + 3)
	// The active controller removes itself: it steps down, stays an
	// observer, and the other voters elect a new leader.
	_, _, p, _, err := describeQuorum(ctx, c.Broker(0))
	if err != nil {
		t.Fatal(err)
	}
	old := p.LeaderID
	rl := changeVoter(t, c, int(old-1), false, old)
	var voters []int32
	for id := int32(1); id <= 4; id++ {
		if id != old {
			voters = append(voters, id)
		}
	}
	observers := []int32{old, 5}
	slices.Sort(observers)
	waitQuorum(t, c, voters, observers)
	waitCreated(createdSoFar() + 3)
	close(stop)
	<-done

	mu.Lock()
	want := slices.Clone(created)
	fails := failed
	mu.Unlock()
	c.WaitFor("every created topic on every broker", 60*time.Second, func() bool {
		for i := range c.Len() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			kr, err := c.Broker(i).Request(ctx, kmsg.NewPtrMetadataRequest())
			cancel()
			if err != nil {
				return false
			}
			have := map[string]bool{}
			for _, mt := range kr.(*kmsg.MetadataResponse).Topics {
				if mt.Topic != nil && mt.ErrorCode == 0 {
					have[*mt.Topic] = true
				}
			}
			for _, n := range want {
				if !have[n] {
					return false
				}
			}
		}
		return true
	})
	t.Logf("voter changes: add 4 %v, add 5 %v, remove 5 %v, remove the active controller %d %v; voters now %v; %d topics created and on all 5 brokers, %d creations answered with an error",
		d4.Round(time.Millisecond), d5.Round(time.Millisecond), r5.Round(time.Millisecond), old, rl.Round(time.Millisecond), voters, len(want), fails)
}
