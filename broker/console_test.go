package broker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consoleBroker starts a broker with the console, a topic "orders" of 3
// partitions holding 10 records each, and a group "billing" committed at
// 4 on every partition (lag 6 each, 18 in all).
func consoleBroker(t *testing.T) (*testBroker, string) {
	t.Helper()
	b := startBroker(t, "http.listeners=http://127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	offs := kadm.Offsets{}
	for p := range int32(3) {
		for i := range 10 {
			r := &kgo.Record{Topic: "orders", Partition: p, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"order":%d,"partition":%d}`, i, p)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		offs.Add(kadm.Offset{Topic: "orders", Partition: p, At: 4, LeaderEpoch: -1})
	}
	if _, err := adm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	return b, "http://" + b.srv.HTTPAddr().String()
}

// consolePages are the pages and what each must show.
var consolePages = []struct {
	path string
	want []string
}{
	{"/", []string{`id="topic-count">`, `class="broker"`, "live"}},
	{"/topics", []string{`href="/topics/orders"`, "orders"}},
	{"/topics/orders", []string{`id="topic-name">orders<`, `data-partition="2"`, `class="end">10<`, `class="hw">10<`}},
	{"/topics/orders/messages?partition=1&offset=7&format=json", []string{`data-offset="7"`, `data-offset="9"`, `&#34;partition&#34;: 1`}},
	{"/groups", []string{`href="/groups/billing"`, `class="lag">18<`}},
	{"/groups/billing", []string{`id="total-lag">18<`, `data-partition="0"`, `class="lag">6<`, `<svg id="lag-chart"`, "<polyline"}},
}

// TestConsolePagesHTTP reads each console page as served.
func TestConsolePagesHTTP(t *testing.T) {
	t.Parallel()
	_, base := consoleBroker(t)
	for _, pg := range consolePages {
		resp, err := http.Get(base + pg.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d: %s", pg.path, resp.StatusCode, body)
			continue
		}
		for _, w := range pg.want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s: missing %q", pg.path, w)
			}
		}
		if strings.Contains(pg.path, "messages") && strings.Contains(string(body), `data-offset="6"`) {
			t.Errorf("%s: shows offset 6, before the requested 7", pg.path)
		}
	}
	resp, err := http.Get(base + "/api/groups/billing")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"total_lag":18`) {
		t.Errorf("/api/groups/billing: %s", body)
	}
}

// TestConsoleChromium loads each page in headless Chromium and checks the
// rendered DOM. Skipped when chromium is not installed (.ci/run installs it).
func TestConsoleChromium(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install -y chromium): console not checked in a browser")
	}
	_, base := consoleBroker(t)
	for _, pg := range consolePages {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+t.TempDir(),
			"--dump-dom", base+pg.path).Output()
		cancel()
		if err != nil {
			t.Fatalf("%s: chromium: %v", pg.path, err)
		}
		for _, w := range pg.want {
			// The DOM serializer writes quotes in text as-is.
			w = strings.ReplaceAll(w, "&#34;", `"`)
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: DOM missing %q", pg.path, w)
			}
		}
	}
}

// TestConsoleScreenshots writes the README's screenshots into
// $GREGOR_SCREENSHOTS (docs/ in the repo) when it is set.
func TestConsoleScreenshots(t *testing.T) {
	dir := os.Getenv("GREGOR_SCREENSHOTS")
	bin, err := exec.LookPath("chromium")
	if dir == "" || err != nil {
		t.Skip("set GREGOR_SCREENSHOTS=DIR with chromium installed to write screenshots")
	}
	_, base := consoleBroker(t)
	for name, path := range map[string]string{"overview": "/", "topic": "/topics/orders",
		"messages": "/topics/orders/messages?partition=1&offset=0&format=json&n=5", "group": "/groups/billing"} {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--user-data-dir="+t.TempDir(), "--window-size=1100,700",
			"--screenshot="+filepath.Join(dir, "console-"+name+".png"), base+path).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v: %s", path, err, out)
		}
	}
}
