package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

var (
	updateGolden = flag.Bool("update-golden", false, "rewrite testdata/whatsmeow-protocol.golden from this run")
	goldenWrite  sync.Mutex
)

const (
	goldenPath   = "testdata/whatsmeow-protocol.golden"
	whatsmeowMod = "go.mau.fi/whatsmeow"
)

// protocolLog records the shape of every node whatsmeow clients send to the
// fake network: tag, the attributes that select a protocol path (type,
// xmlns, class) and, two levels deep, the tags of the children. A
// whatsmeow upgrade that sends something new — a new IQ, a changed message
// layout — changes this set, and the golden test says so before the
// change can hide behind a timeout.
type protocolLog struct {
	mu      sync.Mutex
	seen    map[string]bool
	changed chan struct{}
}

func newProtocolLog() *protocolLog {
	return &protocolLog{seen: map[string]bool{}, changed: make(chan struct{})}
}

// record is a wafake.Config.OnReceive hook.
func (p *protocolLog) record(_ types.JID, node *waBinary.Node) {
	shape := nodeShape(node, 2)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.seen[shape] {
		p.seen[shape] = true
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// waitSeen waits until a client sent a node of that shape. The flow uses it
// for what happens on a timer (keep-alive pings), so that the set of shapes
// does not depend on how fast the machine is.
func (p *protocolLog) waitSeen(t testing.TB, shape string) {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		seen, changed := p.seen[shape], p.changed
		p.mu.Unlock()
		if seen {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no client sent %q within %s", shape, WaitTimeout)
		}
	}
}

func (p *protocolLog) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.seen))
	for s := range p.seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// nodeShape renders a node's tag, path-selecting attributes and children's
// shapes (depth levels down, deduplicated and sorted).
func nodeShape(node *waBinary.Node, depth int) string {
	var b strings.Builder
	b.WriteString(node.Tag)
	for _, k := range []string{"type", "xmlns", "class"} {
		if v, ok := node.Attrs[k]; ok {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
	}
	if children := node.GetChildren(); depth > 0 && len(children) > 0 {
		shapes := make([]string, 0, len(children))
		for i := range children {
			shapes = append(shapes, nodeShape(&children[i], depth-1))
		}
		slices.Sort(shapes)
		b.WriteString(" {" + strings.Join(slices.Compact(shapes), "; ") + "}")
	}
	return b.String()
}

// whatsmeowVersion is the version of whatsmeow this module builds with, as
// go.mod requires (or replaces) it. Test binaries carry no dependency list
// in their build info, so it is read from go.mod itself.
func whatsmeowVersion(t testing.TB) string {
	t.Helper()
	raw, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatalf("read the module's go.mod: %v", err)
	}
	version := ""
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(strings.TrimPrefix(line, "require "), "replace ")
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != whatsmeowMod {
			continue
		}
		if i := slices.Index(fields, "=>"); i >= 0 {
			return "replaced by " + strings.Join(fields[i+1:], " ")
		}
		version = fields[1]
	}
	if version == "" {
		t.Fatalf("go.mod does not require %s", whatsmeowMod)
	}
	return version
}

// checkGolden compares what the clients sent during the end-to-end flow
// with testdata/whatsmeow-protocol.golden (or rewrites it with
// -update-golden). It fails on a whatsmeow version other than the one the
// file was recorded with, and on any node shape added or gone.
func checkGolden(t *testing.T, p *protocolLog) {
	t.Helper()
	version := whatsmeowVersion(t)
	header := "# whatsmeow " + version
	got := p.lines()
	if *updateGolden {
		// Both modes' subtests record the same shapes; write one at a time.
		goldenWrite.Lock()
		defer goldenWrite.Unlock()
		content := header + "\n# Node shapes whatsmeow clients send during TestWhatsmeowEndToEnd; see docs/whatsmeow-testing.md.\n" +
			strings.Join(got, "\n") + "\n"
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read golden file: %v (create it with go test ./internal/e2e -run TestWhatsmeowEndToEnd -update-golden)", err)
	}
	var want []string
	var recorded string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		switch {
		case strings.HasPrefix(line, "# whatsmeow "):
			recorded = line
		case strings.HasPrefix(line, "#"), line == "":
		default:
			want = append(want, line)
		}
	}
	if recorded != header {
		t.Errorf("whatsmeow changed: go.mod requires %s, %s was recorded with %s.\n"+
			"The fake WhatsApp network (internal/wafake) was checked against the recorded version only. "+
			"Read whatsmeow's changes to the protocol paths below, make wafake answer them, then "+
			"re-record with: go test ./internal/e2e -run TestWhatsmeowEndToEnd -update-golden",
			version, goldenPath, strings.TrimPrefix(recorded, "# whatsmeow "))
	}
	var added, gone []string
	for _, s := range got {
		if !slices.Contains(want, s) {
			added = append(added, "+ "+s)
		}
	}
	for _, s := range want {
		if !slices.Contains(got, s) {
			gone = append(gone, "- "+s)
		}
	}
	if len(added)+len(gone) > 0 {
		t.Errorf("the protocol paths whatsmeow took differ from %s (make wafake answer new ones, then "+
			"re-record with -update-golden):\n%s", goldenPath, strings.Join(append(added, gone...), "\n"))
	}
}
