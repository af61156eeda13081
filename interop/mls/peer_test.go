package mlsinterop_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/testenv"
)

// callTimeout bounds one request to the peer. ts-mls answers in
// milliseconds; the slack is for slow CI machines.
const callTimeout = 60 * time.Second

// nodeSetup is done once per test binary: find node/npm and install the
// peer's pinned packages if node_modules is missing.
var (
	nodeOnce sync.Once
	nodePath string
	nodeErr  error // set when node is unusable (skip or fail)
	npmErr   error // set when the install failed (always fail)
)

// requireNode returns the node binary, installing the peer's packages with
// `npm ci` first if needed. Without node the test is skipped, except under
// CI (the CI environment variable set), where it fails.
func requireNode(t *testing.T) string {
	t.Helper()
	nodeOnce.Do(setupNode)
	if nodeErr != nil {
		msg := fmt.Sprintf("ts-mls interop needs Node.js 20+ and npm: %v (install with e.g. `apt-get install nodejs npm`, or from https://nodejs.org; the test runs `npm ci` in interop/mls itself)", nodeErr)
		testenv.Require(t, errors.New(msg), "Node.js 20+ and npm", "apt-get install nodejs npm")
	}
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	return nodePath
}

func setupNode() {
	node, err := exec.LookPath("node")
	if err != nil {
		nodeErr = err
		return
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		nodeErr = fmt.Errorf("running node --version: %v", err)
		return
	}
	v := strings.TrimSpace(string(out))
	major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(v, "v"), ".", 2)[0])
	if err != nil || major < 20 {
		nodeErr = fmt.Errorf("node %s is too old", v)
		return
	}
	nodePath = node
	if _, err := os.Stat(filepath.Join("node_modules", "ts-mls", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		nodeErr = fmt.Errorf("node_modules is missing and npm is not installed: %v", err)
		return
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		npmErr = fmt.Errorf("npm ci in interop/mls: %v\n%s", err, log.String())
	}
}

// peer is one running `node peer.mjs`.
type peer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *e2etest.Buffer
	nextID int
	dead   bool
}

// startPeer spawns the ts-mls peer with extra environment variables
// (KEY=value); it is stopped when t ends.
func startPeer(t *testing.T, env ...string) *peer {
	t.Helper()
	node := requireNode(t)
	cmd := exec.Command(node, "peer.mjs")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{cmd: cmd, stdin: stdin, lines: make(chan []byte, 16), stderr: &e2etest.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node peer.mjs: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
		for sc.Scan() {
			p.lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return p
}

// reply is a peer response; which fields are set depends on the op
// (PROTOCOL.md).
type reply struct {
	ID                 int      `json:"id"`
	OK                 bool     `json:"ok"`
	Error              string   `json:"error"`
	KeyPackage         string   `json:"key_package"`
	KeyPackageRef      string   `json:"key_package_ref"`
	Commit             string   `json:"commit"`
	Welcome            string   `json:"welcome"`
	RatchetTree        string   `json:"ratchet_tree"`
	Epoch              uint64   `json:"epoch"`
	LeafIndex          uint32   `json:"leaf_index"`
	Kind               string   `json:"kind"`
	Plaintext          string   `json:"plaintext"`
	Active             bool     `json:"active"`
	Message            string   `json:"message"`
	EpochAuthenticator string   `json:"epoch_authenticator"`
	Members            []uint32 `json:"members"`
	OwnLeafIndex       uint32   `json:"own_leaf_index"`
	GroupID            string   `json:"group_id"`
	Suite              int      `json:"suite"`
	Secret             string   `json:"secret"`
	Suites             []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"suites"`
}

// try sends one request and waits for its response. A peer-side failure
// ("ok": false) is returned as an error; a broken or hung peer fails t.
func (p *peer) try(t *testing.T, op string, args map[string]any) (*reply, error) {
	t.Helper()
	if p.dead {
		t.Fatalf("peer: %s: peer already failed", op)
	}
	p.nextID++
	req := map[string]any{"op": op, "id": p.nextID}
	for k, v := range args {
		req[k] = v
	}
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("peer: encoding %s: %v", op, err)
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		p.fatal(t, "peer: writing %s: %v", op, err)
	}
	select {
	case resp, ok := <-p.lines:
		if !ok {
			p.fatal(t, "peer: exited while answering %s", op)
		}
		var r reply
		if err := json.Unmarshal(resp, &r); err != nil {
			p.fatal(t, "peer: %s: bad response %q: %v", op, resp, err)
		}
		if r.ID != p.nextID {
			p.fatal(t, "peer: %s: response id %d, want %d", op, r.ID, p.nextID)
		}
		if !r.OK {
			return nil, fmt.Errorf("ts-mls %s: %s", op, r.Error)
		}
		return &r, nil
	case <-time.After(callTimeout):
		p.cmd.Process.Kill()
		p.fatal(t, "peer: %s: no response in %v", op, callTimeout)
	}
	return nil, nil
}

// call is try that fails the test, naming the step, on a peer error.
func (p *peer) call(t *testing.T, step, op string, args map[string]any) *reply {
	t.Helper()
	r, err := p.try(t, op, args)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return r
}

func (p *peer) fatal(t *testing.T, format string, args ...any) {
	t.Helper()
	p.dead = true
	t.Fatalf(format+"\npeer stderr:\n%s", append(args, p.stderr.String())...)
}

func unhex(t *testing.T, what, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("peer returned bad hex in %s: %v", what, err)
	}
	return b
}
