// selftest.mjs: proves peer.mjs without Go. It spawns three peer processes
// (A, B, C) and drives a full group life cycle through the line protocol for
// each cipher suite below, asserting at every step. Exits non-zero on any
// failure and prints "N passed, M failed" as its last line.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const peerPath = join(here, "peer.mjs");

// Suites exercised: RFC 9420 suites 1, 2, 3 and ts-mls's X-Wing hybrid 83.
// Each runs twice: ratchet tree sent out of band, and inside the Welcome.
const SUITES = [1, 2, 3, 83];

class Peer {
  constructor(name) {
    this.name = name;
    this.nextId = 1;
    this.waiting = new Map();
    this.proc = spawn(process.execPath, [peerPath], { stdio: ["pipe", "pipe", "inherit"] });
    this.proc.on("exit", (code) => {
      for (const { reject } of this.waiting.values()) reject(new Error(`peer ${name} exited (${code})`));
      this.waiting.clear();
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const resp = JSON.parse(line);
      const w = this.waiting.get(resp.id);
      if (w === undefined) throw new Error(`peer ${name}: response for unknown id ${resp.id}`);
      this.waiting.delete(resp.id);
      w.resolve(resp);
    });
  }

  // raw sends a request and resolves with the whole response, ok or not.
  raw(op, args = {}) {
    const id = `${this.name}-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.proc.stdin.write(JSON.stringify({ op, id, ...args }) + "\n");
    });
  }

  // call sends a request and fails the check unless the peer says ok.
  async call(op, args = {}) {
    const resp = await this.raw(op, args);
    if (resp.ok !== true) throw new Error(`peer ${this.name} ${op} failed: ${resp.error}`);
    return resp;
  }

  async close() {
    const done = new Promise((resolve) => this.proc.on("exit", resolve));
    await this.raw("shutdown");
    this.proc.stdin.end();
    await done;
  }
}

let passed = 0;
let failed = 0;

function check(name, cond, detail = "") {
  if (cond) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? ": " + detail : ""}`);
  }
}

const hex = (s) => Buffer.from(s, "utf8").toString("hex");
const sameArray = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// agree asserts that every peer's view of group g is identical.
async function agree(label, members, wantEpoch, wantLeaves) {
  const states = await Promise.all(members.map((p) => p.call("state", { group: "g" })));
  const [first] = states;
  check(`${label}: epoch ${wantEpoch}`, states.every((s) => s.epoch === wantEpoch), states.map((s) => s.epoch).join(","));
  check(`${label}: epoch_authenticator agrees`, states.every((s) => s.epoch_authenticator === first.epoch_authenticator));
  check(`${label}: tree_hash agrees`, states.every((s) => s.tree_hash === first.tree_hash));
  check(`${label}: members ${wantLeaves}`, states.every((s) => sameArray(s.members, wantLeaves)), JSON.stringify(states.map((s) => s.members)));
  const exports = await Promise.all(
    members.map((p) => p.call("export", { group: "g", label: "selftest", context: "00ff", length: 32 })),
  );
  check(`${label}: exporter agrees`, exports.every((e) => e.secret === exports[0].secret && e.secret.length === 64));
  return first;
}

// sendAndReceive asserts that an application message from one member
// decrypts at every other member.
async function sendAndReceive(label, from, to, text) {
  const { message } = await from.call("encrypt", { group: "g", plaintext: hex(text) });
  check(`${label}: encrypt gives a PrivateMessage`, message.startsWith("00010002"), message.slice(0, 8));
  for (const p of to) {
    const got = await p.call("process", { group: "g", message });
    check(`${label}: ${p.name} sees application`, got.kind === "application", got.kind);
    check(`${label}: ${p.name} plaintext matches`, got.plaintext === hex(text));
  }
  return message;
}

async function scenario(suite, treeInWelcome, publicCommits) {
  const label = `suite ${suite} ${treeInWelcome ? "tree-in-welcome" : "tree-out-of-band"}${publicCommits ? " public-commits" : ""}`;
  const A = new Peer("A");
  const B = new Peer("B");
  const C = new Peer("C");
  try {
    const created = await A.call("create_group", { group: "g", suite, group_id: hex(`group-${suite}`), identity: "alice" });
    check(`${label}: create_group at epoch 0`, created.epoch === 0 && created.leaf_index === 0);

    const bKP = await B.call("create_key_package", { suite, identity: "bob" });
    // MLSMessage: version mls10 (0x0001), wire_format mls_key_package (0x0005), KeyPackage.version, suite.
    const wantKPPrefix = "000100050001" + suite.toString(16).padStart(4, "0");
    check(`${label}: key package framing`, bKP.key_package.startsWith(wantKPPrefix), bKP.key_package.slice(0, 12));

    const addB = await A.call("add", { group: "g", key_package: bKP.key_package, ratchet_tree_extension: treeInWelcome, public: publicCommits });
    check(`${label}: add returns epoch 1`, addB.epoch === 1);
    check(`${label}: welcome framing`, addB.welcome.startsWith("00010003"), addB.welcome.slice(0, 8));
    const commitWF = publicCommits ? "00010001" : "00010002";
    check(`${label}: add commit framing`, addB.commit.startsWith(commitWF), addB.commit.slice(0, 8));

    if (!treeInWelcome) {
      // Without the extension, a join that is not handed the tree must fail
      // and leave B's key package usable.
      const treeless = await B.raw("join", { group: "g", welcome: addB.welcome });
      check(`${label}: join without any ratchet tree refused`, treeless.ok === false);
      const stranger = new Peer("X");
      await stranger.call("create_key_package", { suite, identity: "xavier" });
      const foreign = await stranger.raw("join", { group: "g", welcome: addB.welcome, ratchet_tree: addB.ratchet_tree });
      check(`${label}: Welcome for someone else refused`, foreign.ok === false);
      await stranger.close();
    }
    const joinArgs = { group: "g", welcome: addB.welcome };
    if (!treeInWelcome) joinArgs.ratchet_tree = addB.ratchet_tree;
    const bJoin = await B.call("join", joinArgs);
    check(`${label}: B joins at epoch 1 as leaf 1`, bJoin.epoch === 1 && bJoin.leaf_index === 1, JSON.stringify(bJoin));
    await agree(`${label} after add B`, [A, B], 1, [0, 1]);

    await sendAndReceive(`${label} A->B`, A, [B], "hello bob");
    await sendAndReceive(`${label} B->A`, B, [A], "hello alice");

    // A tampered ciphertext must be refused and must not disturb A's state:
    // the untampered original still decrypts afterwards.
    const fresh = await B.call("encrypt", { group: "g", plaintext: hex("integrity") });
    const last = parseInt(fresh.message.slice(-2), 16);
    const tampered = fresh.message.slice(0, -2) + ((last ^ 0x01).toString(16).padStart(2, "0"));
    const tamperedResp = await A.raw("process", { group: "g", message: tampered });
    check(`${label}: tampered message refused`, tamperedResp.ok === false);
    const original = await A.call("process", { group: "g", message: fresh.message });
    check(`${label}: original decrypts after tamper`, original.kind === "application" && original.plaintext === hex("integrity"));
    const replay = await A.raw("process", { group: "g", message: fresh.message });
    check(`${label}: replayed message refused`, replay.ok === false);

    const bUpdate = await B.call("update", { group: "g", public: publicCommits });
    check(`${label}: B update at epoch 2`, bUpdate.epoch === 2);
    const aSeesUpdate = await A.call("process", { group: "g", message: bUpdate.commit });
    check(`${label}: A sees a commit`, aSeesUpdate.kind === "commit" && aSeesUpdate.epoch === 2, JSON.stringify(aSeesUpdate));
    const afterUpdate = await agree(`${label} after B update`, [A, B], 2, [0, 1]);
    await sendAndReceive(`${label} A->B epoch 2`, A, [B], "after update");

    const cKP = await C.call("create_key_package", { suite, identity: "carol" });
    const addC = await A.call("add", { group: "g", key_package: cKP.key_package, ratchet_tree_extension: treeInWelcome, public: publicCommits });
    const bSeesAdd = await B.call("process", { group: "g", message: addC.commit });
    check(`${label}: B processes add C`, bSeesAdd.kind === "commit" && bSeesAdd.epoch === 3);
    const cJoinArgs = { group: "g", welcome: addC.welcome };
    if (!treeInWelcome) cJoinArgs.ratchet_tree = addC.ratchet_tree;
    const cJoin = await C.call("join", cJoinArgs);
    check(`${label}: C joins at epoch 3 as leaf 2`, cJoin.epoch === 3 && cJoin.leaf_index === 2);
    const afterAddC = await agree(`${label} after add C`, [A, B, C], 3, [0, 1, 2]);
    check(`${label}: epoch_authenticator changes per epoch`, afterAddC.epoch_authenticator !== afterUpdate.epoch_authenticator);
    await sendAndReceive(`${label} C->A,B`, C, [A, B], "hi from carol");

    const removeB = await A.call("remove", { group: "g", leaf_index: 1, public: publicCommits });
    check(`${label}: remove at epoch 4`, removeB.epoch === 4);
    const cSeesRemove = await C.call("process", { group: "g", message: removeB.commit });
    check(`${label}: C processes remove`, cSeesRemove.kind === "commit" && cSeesRemove.active === true);
    const bSeesRemove = await B.call("process", { group: "g", message: removeB.commit });
    check(`${label}: B learns it was removed`, bSeesRemove.kind === "commit" && bSeesRemove.active === false, JSON.stringify(bSeesRemove));
    await agree(`${label} after remove B`, [A, C], 4, [0, 2]);
    const removedSend = await B.raw("encrypt", { group: "g", plaintext: hex("still here?") });
    check(`${label}: removed B cannot send`, removedSend.ok === false);
    await sendAndReceive(`${label} A->C epoch 4`, A, [C], "bob is gone");
  } catch (e) {
    check(`${label}: ran to the end`, false, e.message);
  } finally {
    await Promise.all([A.close(), B.close(), C.close()]);
  }
}

// Protocol-level error handling, independent of any suite.
async function protocolChecks() {
  const P = new Peer("P");
  try {
    const unknown = await P.raw("no_such_op");
    check("protocol: unknown op refused with id echoed", unknown.ok === false && unknown.id === "P-1");
    const badSuite = await P.raw("create_key_package", { suite: 9999, identity: "x" });
    check("protocol: unsupported suite refused", badSuite.ok === false);
    const badHex = await P.raw("create_group", { group: "g", suite: 1, group_id: "zz", identity: "x" });
    check("protocol: bad hex refused", badHex.ok === false);
    const noGroup = await P.raw("state", { group: "missing" });
    check("protocol: unknown group refused", noGroup.ok === false);
    const suites = await P.call("suites");
    const ids = suites.suites.map((s) => s.id);
    check("protocol: suites lists 1, 2, 3 and 83", [1, 2, 3, 83].every((id) => ids.includes(id)), JSON.stringify(ids));
  } catch (e) {
    check("protocol: ran to the end", false, e.message);
  } finally {
    await P.close();
  }
}

await protocolChecks();
for (const suite of SUITES) {
  await scenario(suite, false, false);
  await scenario(suite, true, false);
}
await scenario(1, false, true);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
