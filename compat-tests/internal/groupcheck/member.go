package groupcheck

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionTimeout is what every member asks for: the broker's
// group.min.session.timeout.ms default, the shortest it accepts.
const SessionTimeout = 6 * time.Second

// Heartbeat is every member's heartbeat interval.
const Heartbeat = time.Second

// MemberEnv is what a member process needs. The driver passes it in the
// environment (COMPAT_MEMBER_*) and to Config.Member, for clients that take
// it as flags.
type MemberEnv struct {
	Bootstrap string
	Group     string
	Topic     string
	ClientID  string
	Session   time.Duration
	Heartbeat time.Duration
}

func (e MemberEnv) environ() []string {
	return []string{
		"COMPAT_GROUP_MEMBER=1",
		"COMPAT_MEMBER_BOOTSTRAP=" + e.Bootstrap,
		"COMPAT_MEMBER_GROUP=" + e.Group,
		"COMPAT_MEMBER_TOPIC=" + e.Topic,
		"COMPAT_MEMBER_CLIENT_ID=" + e.ClientID,
		"COMPAT_MEMBER_SESSION_MS=" + strconv.Itoa(int(e.Session/time.Millisecond)),
		"COMPAT_MEMBER_HEARTBEAT_MS=" + strconv.Itoa(int(e.Heartbeat/time.Millisecond)),
	}
}

// MemberFromEnv returns the member settings when this process was started
// as a group member by the driver (COMPAT_GROUP_MEMBER=1).
func MemberFromEnv() (MemberEnv, bool) {
	if os.Getenv("COMPAT_GROUP_MEMBER") != "1" {
		return MemberEnv{}, false
	}
	ms := func(k string) time.Duration {
		n, _ := strconv.Atoi(os.Getenv(k))
		return time.Duration(n) * time.Millisecond
	}
	return MemberEnv{
		Bootstrap: os.Getenv("COMPAT_MEMBER_BOOTSTRAP"),
		Group:     os.Getenv("COMPAT_MEMBER_GROUP"),
		Topic:     os.Getenv("COMPAT_MEMBER_TOPIC"),
		ClientID:  os.Getenv("COMPAT_MEMBER_CLIENT_ID"),
		Session:   ms("COMPAT_MEMBER_SESSION_MS"),
		Heartbeat: ms("COMPAT_MEMBER_HEARTBEAT_MS"),
	}, true
}

// Out writes a member's events to stdout, one write(2) per line and no
// buffering, so a line printed before a SIGKILL reaches the driver.
type Out struct{ mu sync.Mutex }

// Record reports one processed record; call it before committing it.
func (o *Out) Record(p int32, off int64, value []byte) {
	o.write(fmt.Sprintf("R %d %d %s\n", p, off, value))
}

// Assigned reports the member's whole current assignment.
func (o *Out) Assigned(ps []int32) {
	s := append([]int32(nil), ps...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = strconv.Itoa(int(p))
	}
	o.write("A " + strings.Join(parts, ",") + "\n")
}

// Logf writes a free-form line (ignored by the driver, kept in the log).
func (o *Out) Logf(f string, a ...any) { o.write("# " + fmt.Sprintf(f, a...) + "\n") }

func (o *Out) write(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = os.Stdout.WriteString(s)
}
