package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "server.properties")
	os.WriteFile(file, []byte("# comment\nnum.partitions=3\nlog.dirs = /tmp/a, /tmp/b\nlisteners=PLAINTEXT://0.0.0.0:9093\nmessage.max.bytes: 2000\n"), 0o644)
	for _, tc := range []struct {
		name      string
		file      string
		env       []string
		overrides []string
		check     func(Config) bool
		wantErr   string
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.NumPartitions == 1 && c.LogDirs[0] == "./data" && c.Listeners[0].Port == 9092 && c.AutoCreateTopics
		}},
		{name: "file", file: file, check: func(c Config) bool {
			return c.NumPartitions == 3 && len(c.LogDirs) == 2 && c.LogDirs[1] == "/tmp/b" && c.MessageMaxBytes == 2000 &&
				c.AdvertisedListeners[0].Host == "localhost" && c.AdvertisedListeners[0].Port == 9093
		}},
		{name: "env beats file", file: file, env: []string{"GREGOR_NUM_PARTITIONS=5", "OTHER=1"}, check: func(c Config) bool { return c.NumPartitions == 5 }},
		{name: "override beats env", file: file, env: []string{"GREGOR_NUM_PARTITIONS=5"}, overrides: []string{"num.partitions=7"}, check: func(c Config) bool { return c.NumPartitions == 7 }},
		{name: "hours alias", overrides: []string{"log.retention.hours=1"}, check: func(c Config) bool { v, ex, _ := c.Value("log.retention.ms"); return v == "3600000" && ex }},
		{name: "ms beats hours", overrides: []string{"log.retention.hours=1", "log.retention.ms=5"}, check: func(c Config) bool { v, _, _ := c.Value("log.retention.ms"); return v == "5" }},
		{name: "node id", overrides: []string{"node.id=3"}, check: func(c Config) bool { return c.NodeID == 3 }},
		{name: "broker.id alias", overrides: []string{"broker.id=4"}, check: func(c Config) bool { return c.NodeID == 4 }},
		{name: "node.id beats broker.id", overrides: []string{"broker.id=4", "node.id=5"}, check: func(c Config) bool { return c.NodeID == 5 }},
		{name: "voters", overrides: []string{"node.id=2", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093,2@b:9093"}, check: func(c Config) bool {
			return len(c.Voters) == 2 && c.Voters[1].Addr == "b:9093" && c.InterBrokerListener == "PLAINTEXT" && len(c.AdvertisedListeners) == 1
		}},
		{name: "voters without controller listener", overrides: []string{"controller.quorum.voters=1@a:9093"}, wantErr: "CONTROLLER"},
		{name: "node not a voter", overrides: []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=2@a:9093"}, wantErr: "does not include node.id"},
		{name: "bad voters", overrides: []string{"controller.quorum.voters=x"}, wantErr: "id@host:port"},
		{name: "unknown key", overrides: []string{"no.such=1"}, wantErr: `unknown key "no.such"`},
		{name: "bad int", overrides: []string{"num.partitions=x"}, wantErr: "num.partitions"},
		{name: "bad bool", env: []string{"GREGOR_AUTO_CREATE_TOPICS_ENABLE=maybe"}, wantErr: "auto.create.topics.enable"},
		{name: "bad listener", overrides: []string{"listeners=localhost:9092"}, wantErr: "listeners"},
		{name: "advertised names no listener", overrides: []string{"advertised.listeners=OTHER://h:1"}, wantErr: "advertised.listeners"},
		{name: "message bigger than request", overrides: []string{"message.max.bytes=200000000"}, wantErr: "socket.request.max.bytes"},
		{name: "not key=value", overrides: []string{"num.partitions"}, wantErr: "not key=value"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tc.file, tc.env, tc.overrides)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}
