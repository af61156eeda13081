package mlsinterop_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/samizdat-project/samizdat/mls"
)

// exporterLabel and exporterContext are what every member exports after
// each epoch to compare MLS-Exporter outputs (RFC 9420 §8.5).
const exporterLabel = "samizdat interop"

var exporterContext = []byte("exporter context")

// goMember is a member run by our Go engine.
type goMember struct {
	name string
	cfg  mls.Config
	id   *mls.Identity
	kp   *mls.KeyPackageBundle
	g    *mls.Group
}

// tsMember is a member run by ts-mls inside the peer; name is its group
// name there (unique per peer).
type tsMember struct {
	name string
}

// world is one group whose members are split between Go and ts-mls. It
// tracks who is in the group so that every commit reaches every member.
type world struct {
	t     *testing.T
	cs    mls.CipherSuite
	p     *peer
	tag   string // prefix of peer group names, unique per scenario
	gos   []*goMember
	tss   []*tsMember
	epoch uint64 // the epoch every member must be in
	// pending counts members added by a commit that have not joined yet.
	pending int
}

func newWorld(t *testing.T, p *peer, cs mls.CipherSuite, tag string) *world {
	return &world{t: t, cs: cs, p: p, tag: tag}
}

// newGo makes a Go identity and KeyPackage; the member is not in the group.
func (w *world) newGo(name string) *goMember {
	w.t.Helper()
	cfg := mls.Config{CipherSuite: w.cs}
	id, err := mls.NewIdentity(cfg, []byte(name))
	if err != nil {
		w.t.Fatalf("new Go identity %s: %v", name, err)
	}
	kp, err := id.NewKeyPackage(cfg, mls.KeyPackageOptions{})
	if err != nil {
		w.t.Fatalf("new Go key package %s: %v", name, err)
	}
	return &goMember{name: name, cfg: cfg, id: id, kp: kp}
}

// tsKeyPackage asks the peer for a KeyPackage of a future member name.
func (w *world) tsKeyPackage(step, name string) (*tsMember, []byte) {
	w.t.Helper()
	r := w.p.call(w.t, step, "create_key_package", map[string]any{"suite": int(w.cs), "identity": name})
	return &tsMember{name: w.tag + "/" + name}, unhex(w.t, "key_package", r.KeyPackage)
}

func (w *world) groupID() []byte { return []byte("interop " + w.tag) }

// goCreate makes m the creator of the group.
func (w *world) goCreate(m *goMember) {
	w.t.Helper()
	g, err := mls.CreateGroup(m.cfg, m.id, w.groupID())
	if err != nil {
		w.t.Fatalf("Go creates the group: %v", err)
	}
	m.g = g
	w.gos = append(w.gos, m)
	w.agree("Go created the group")
}

// tsCreate makes a ts-mls member the creator of the group.
func (w *world) tsCreate(name string) *tsMember {
	w.t.Helper()
	m := &tsMember{name: w.tag + "/" + name}
	w.p.call(w.t, "ts-mls creates the group", "create_group", map[string]any{
		"group": m.name, "suite": int(w.cs), "group_id": hex.EncodeToString(w.groupID()), "identity": name,
	})
	w.tss = append(w.tss, m)
	w.agree("ts-mls created the group")
	return m
}

// goCommit commits from a Go member, delivers the commit to every other
// member, and checks that exactly the members in removed left.
func (w *world) goCommit(step string, from *goMember, opts mls.CommitOptions, removed ...any) *mls.CommitResult {
	w.t.Helper()
	res, err := from.g.Commit(opts)
	if err != nil {
		w.t.Fatalf("%s: Go %s commits: %v", step, from.name, err)
	}
	if err := from.g.MergePendingCommit(); err != nil {
		w.t.Fatalf("%s: Go %s merges its commit: %v", step, from.name, err)
	}
	w.pending += len(opts.AddKeyPackages)
	w.deliver(step, res.Commit, from, removed)
	return res
}

// tsCommit runs a committing op (update, remove, add) on a ts-mls member,
// delivers the commit to every other member and checks removals.
func (w *world) tsCommit(step string, from *tsMember, op string, args map[string]any, removed ...any) *reply {
	w.t.Helper()
	req := map[string]any{"group": from.name}
	for k, v := range args {
		req[k] = v
	}
	r := w.p.call(w.t, step, op, req)
	if op == "add" {
		w.pending++
	}
	w.deliver(step, unhex(w.t, "commit", r.Commit), from, removed)
	return r
}

// deliver hands a commit to every member except its sender and drops the
// members it removed, which must be exactly the expected ones.
func (w *world) deliver(step string, commit []byte, sender any, removed []any) {
	w.t.Helper()
	w.epoch++
	var gos []*goMember
	for _, m := range w.gos {
		if m == sender {
			gos = append(gos, m)
			continue
		}
		r, err := m.g.Process(commit)
		if err != nil {
			w.t.Fatalf("%s: Go %s processing the commit: %v", step, m.name, err)
		}
		if r.Kind != mls.KindCommit {
			w.t.Fatalf("%s: Go %s: processed kind %d, want commit", step, m.name, r.Kind)
		}
		want := slices.Contains(removed, any(m))
		if r.Removed != want || m.g.Active() == want {
			w.t.Fatalf("%s: Go %s: removed=%v active=%v, want removed=%v", step, m.name, r.Removed, m.g.Active(), want)
		}
		if !want {
			gos = append(gos, m)
		}
	}
	var tss []*tsMember
	for _, m := range w.tss {
		if m == sender {
			tss = append(tss, m)
			continue
		}
		r := w.p.call(w.t, step+": ts-mls "+m.name+" processing the commit", "process", map[string]any{"group": m.name, "message": hex.EncodeToString(commit)})
		if r.Kind != "commit" {
			w.t.Fatalf("%s: ts-mls %s: processed kind %q, want commit", step, m.name, r.Kind)
		}
		want := slices.Contains(removed, any(m))
		if r.Active == want {
			w.t.Fatalf("%s: ts-mls %s: active=%v after the commit, want %v", step, m.name, r.Active, !want)
		}
		if !want {
			tss = append(tss, m)
		}
	}
	if len(gos)+len(tss)+len(removed) != len(w.gos)+len(w.tss) {
		w.t.Fatalf("%s: expected removals %d not all among the members", step, len(removed))
	}
	w.gos, w.tss = gos, tss
	w.agree(step)
}

// goJoin joins Go member m from a Welcome, with the tree out of band when
// tree is non-nil.
func (w *world) goJoin(step string, m *goMember, welcome, tree []byte) {
	w.t.Helper()
	g, err := mls.JoinFromWelcome(m.cfg, m.id, m.kp, welcome, mls.JoinOptions{RatchetTree: tree})
	if err != nil {
		w.t.Fatalf("%s: Go %s joins from the ts-mls Welcome: %v", step, m.name, err)
	}
	m.g = g
	w.gos = append(w.gos, m)
	w.pending--
	w.agree(step + ": Go joined")
}

// tsJoin joins ts-mls member m from a Welcome, with the tree out of band
// when tree is non-nil.
func (w *world) tsJoin(step string, m *tsMember, welcome, tree []byte) {
	w.t.Helper()
	args := map[string]any{"group": m.name, "welcome": hex.EncodeToString(welcome)}
	if tree != nil {
		args["ratchet_tree"] = hex.EncodeToString(tree)
	}
	r := w.p.call(w.t, step+": ts-mls joins", "join", args)
	if r.Epoch != w.epoch {
		w.t.Fatalf("%s: ts-mls joined at epoch %d, want %d", step, r.Epoch, w.epoch)
	}
	w.tss = append(w.tss, m)
	w.pending--
	w.agree(step + ": ts-mls joined")
}

// view is what one member says about the current epoch.
type view struct {
	who      string
	epoch    uint64
	auth     []byte
	exported []byte
	members  []uint32
	groupID  []byte
}

func (w *world) goView(step string, m *goMember) view {
	w.t.Helper()
	exp, err := m.g.Export(exporterLabel, exporterContext, 32)
	if err != nil {
		w.t.Fatalf("%s: Go %s export: %v", step, m.name, err)
	}
	v := view{who: "Go " + m.name, epoch: m.g.Epoch(), auth: m.g.EpochAuthenticator(), exported: exp, groupID: m.g.GroupID(), members: []uint32{}}
	for _, mem := range m.g.Members() {
		v.members = append(v.members, mem.LeafIndex)
	}
	if cs := m.g.CipherSuite(); cs != w.cs {
		w.t.Fatalf("%s: Go %s is on suite 0x%04x, want 0x%04x", step, m.name, uint16(cs), uint16(w.cs))
	}
	return v
}

func (w *world) tsView(step string, m *tsMember) view {
	w.t.Helper()
	st := w.p.call(w.t, step+": ts-mls state", "state", map[string]any{"group": m.name})
	ex := w.p.call(w.t, step+": ts-mls export", "export", map[string]any{
		"group": m.name, "label": exporterLabel, "context": hex.EncodeToString(exporterContext), "length": 32,
	})
	if st.Suite != int(w.cs) || !st.Active {
		w.t.Fatalf("%s: ts-mls %s: suite %d active %v, want suite %d active", step, m.name, st.Suite, st.Active, int(w.cs))
	}
	members := st.Members
	if members == nil {
		members = []uint32{}
	}
	return view{who: "ts-mls " + m.name, epoch: st.Epoch, auth: unhex(w.t, "epoch_authenticator", st.EpochAuthenticator),
		exported: unhex(w.t, "secret", ex.Secret), members: members, groupID: unhex(w.t, "group_id", st.GroupID)}
}

// agree checks that every member is in the expected epoch with the same
// epoch authenticator (RFC 9420 §8.7), exporter output, member leaves and
// group id.
func (w *world) agree(step string) {
	w.t.Helper()
	var views []view
	for _, m := range w.gos {
		views = append(views, w.goView(step, m))
	}
	for _, m := range w.tss {
		views = append(views, w.tsView(step, m))
	}
	ref := views[0]
	if ref.epoch != w.epoch {
		w.t.Fatalf("%s: %s is in epoch %d, want %d", step, ref.who, ref.epoch, w.epoch)
	}
	if !bytes.Equal(ref.groupID, w.groupID()) {
		w.t.Fatalf("%s: %s has group id %x, want %x", step, ref.who, ref.groupID, w.groupID())
	}
	if want := len(w.gos) + len(w.tss) + w.pending; len(ref.members) != want {
		w.t.Fatalf("%s: %s lists members %v, want %d members", step, ref.who, ref.members, want)
	}
	for _, v := range views[1:] {
		switch {
		case v.epoch != ref.epoch:
			w.t.Fatalf("%s: %s is in epoch %d but %s in %d", step, v.who, v.epoch, ref.who, ref.epoch)
		case !bytes.Equal(v.auth, ref.auth):
			w.t.Fatalf("%s: epoch %d: epoch_authenticator of %s %x != %s %x", step, v.epoch, v.who, v.auth, ref.who, ref.auth)
		case !bytes.Equal(v.exported, ref.exported):
			w.t.Fatalf("%s: epoch %d: exporter output of %s differs from %s", step, v.epoch, v.who, ref.who)
		case !slices.Equal(v.members, ref.members):
			w.t.Fatalf("%s: epoch %d: %s lists members %v but %s %v", step, v.epoch, v.who, v.members, ref.who, ref.members)
		case !bytes.Equal(v.groupID, ref.groupID):
			w.t.Fatalf("%s: %s has group id %x but %s %x", step, v.who, v.groupID, ref.who, ref.groupID)
		}
	}
}

// chat makes every member send an application message that every other
// member must decrypt to the same plaintext and authenticated data.
func (w *world) chat(step string) {
	w.t.Helper()
	for _, from := range w.gos {
		text := []byte(fmt.Sprintf("%s: hello from Go %s in epoch %d", step, from.name, w.epoch))
		aad := []byte("aad " + from.name)
		ct, err := from.g.Encrypt(text, aad)
		if err != nil {
			w.t.Fatalf("%s: Go %s encrypts: %v", step, from.name, err)
		}
		w.receive(step, ct, from, text, aad)
	}
	for _, from := range w.tss {
		text := []byte(fmt.Sprintf("%s: hello from ts-mls %s in epoch %d", step, from.name, w.epoch))
		aad := []byte("aad " + from.name)
		r := w.p.call(w.t, step+": ts-mls "+from.name+" encrypts", "encrypt", map[string]any{
			"group": from.name, "plaintext": hex.EncodeToString(text), "authenticated_data": hex.EncodeToString(aad),
		})
		w.receive(step, unhex(w.t, "message", r.Message), from, text, aad)
	}
}

func (w *world) receive(step string, ct []byte, sender any, text, aad []byte) {
	w.t.Helper()
	for _, m := range w.gos {
		if m == sender {
			continue
		}
		r, err := m.g.Process(ct)
		if err != nil {
			w.t.Fatalf("%s: Go %s decrypting %q: %v", step, m.name, text, err)
		}
		if r.Kind != mls.KindApplication || !bytes.Equal(r.Application, text) || !bytes.Equal(r.AuthenticatedData, aad) {
			w.t.Fatalf("%s: Go %s got kind %d %q aad %q, want %q aad %q", step, m.name, r.Kind, r.Application, r.AuthenticatedData, text, aad)
		}
	}
	for _, m := range w.tss {
		if m == sender {
			continue
		}
		r := w.p.call(w.t, step+": ts-mls "+m.name+" decrypts", "process", map[string]any{"group": m.name, "message": hex.EncodeToString(ct)})
		if got := unhex(w.t, "plaintext", r.Plaintext); r.Kind != "application" || !bytes.Equal(got, text) {
			w.t.Fatalf("%s: ts-mls %s got kind %q %q, want %q", step, m.name, r.Kind, got, text)
		}
	}
}

// ratchetTree is the Go member's tree in ratchet_tree extension encoding.
func ratchetTree(t *testing.T, m *goMember) []byte {
	t.Helper()
	tree, err := m.g.RatchetTree()
	if err != nil {
		t.Fatalf("Go %s ratchet tree: %v", m.name, err)
	}
	return tree
}
