// peer.mjs: a long-running MLS peer backed by ts-mls, driven over
// line-delimited JSON on stdin/stdout. samizdat's Go interop tests spawn it
// to prove the Go MLS engine against an independent implementation.
//
// One JSON request per stdin line, one JSON response per stdout line, in
// request order. Logs go to stderr only. Binary values are lower-case hex.
// The wire protocol is specified in PROTOCOL.md beside this file.

import { createInterface } from "node:readline";
import {
  ciphersuites,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  mlsExporter,
  processMessage,
  zeroOutUint8Array,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { encodeRatchetTree, decodeRatchetTree } from "ts-mls/ratchetTree.js";

// ---------------------------------------------------------------- helpers

class RequestError extends Error {}

function fail(msg) {
  throw new RequestError(msg);
}

function toHex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

function fromHex(value, field) {
  if (typeof value !== "string" || value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) {
    fail(`field ${field}: want an even-length hex string`);
  }
  return new Uint8Array(Buffer.from(value, "hex"));
}

function requireString(req, field) {
  const v = req[field];
  if (typeof v !== "string" || v.length === 0) fail(`field ${field}: want a non-empty string`);
  return v;
}

function optionalBool(req, field) {
  const v = req[field];
  if (v === undefined) return false;
  if (typeof v !== "boolean") fail(`field ${field}: want a boolean`);
  return v;
}

// identityBytes reads "identity" (UTF-8 text) or "identity_hex" (raw bytes).
function identityBytes(req) {
  if (req.identity_hex !== undefined) return fromHex(req.identity_hex, "identity_hex");
  return new TextEncoder().encode(requireString(req, "identity"));
}

// suiteName accepts a numeric cipher suite id (1, 3, 83, ...) or a ts-mls name.
function suiteName(value) {
  if (typeof value === "number") {
    for (const [name, id] of Object.entries(ciphersuites)) if (id === value) return name;
    fail(`cipher suite ${value} is not supported by ts-mls`);
  }
  if (typeof value === "string" && value in ciphersuites) return value;
  fail(`field suite: want a supported cipher suite id or name, got ${JSON.stringify(value)}`);
}

// ts-mls 1.6.4 makes ECDSA signature public keys with noble's
// getPublicKey(secret), which returns a compressed SEC1 point (33/49/67
// bytes). RFC 9420 §5.1.1 requires the UncompressedPointRepresentation of
// RFC 8446 (0x04 || X || Y), and strict engines reject the compressed form.
// So the peer replaces keygen for P-256/P-384/P-521 with one that returns
// the uncompressed point; signing and verifying are ts-mls's own (noble
// verify accepts both forms). MLS_PEER_STOCK_ECDSA_KEYS=1 keeps ts-mls's
// compressed keys, to reproduce the incompatibility.
const uncompressedECDSA = process.env.MLS_PEER_STOCK_ECDSA_KEYS !== "1";

async function uncompressedKeygen(signature) {
  const nist = await import("@noble/curves/nist.js");
  const curve = { P256: nist.p256, P384: nist.p384, P521: nist.p521 }[signature];
  if (curve === undefined) return undefined;
  return async () => {
    const signKey = curve.utils.randomSecretKey();
    return { signKey, publicKey: curve.getPublicKey(signKey, false) };
  };
}

const implCache = new Map();
async function suiteImpl(name) {
  if (!implCache.has(name)) {
    const cs = getCiphersuiteFromName(name);
    const impl = await getCiphersuiteImpl(cs);
    const keygen = uncompressedECDSA ? await uncompressedKeygen(cs.signature) : undefined;
    implCache.set(name, keygen === undefined ? impl : { ...impl, signature: { ...impl.signature, keygen } });
  }
  return implCache.get(name);
}

function decodeMessage(hex, field, wantWireformats) {
  const bytes = fromHex(hex, field);
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === undefined) fail(`field ${field}: not a decodable MLSMessage`);
  const [msg, used] = decoded;
  if (used !== bytes.length) fail(`field ${field}: ${bytes.length - used} trailing bytes after MLSMessage`);
  if (!wantWireformats.includes(msg.wireformat)) {
    fail(`field ${field}: wire format ${msg.wireformat}, want one of ${wantWireformats.join(", ")}`);
  }
  return msg;
}

function forget(consumed) {
  for (const secret of consumed ?? []) zeroOutUint8Array(secret);
}

function leafIndices(tree) {
  const out = [];
  for (let i = 0; i < tree.length; i += 2) if (tree[i] !== undefined) out.push(i / 2);
  return out;
}

// ---------------------------------------------------------------- state

// Key packages created by create_key_package that have not been joined yet:
// { suite, refHex, publicPackage, privatePackage }.
const pendingKeyPackages = [];
// Groups by caller-chosen name: { suite, impl, state }.
const groups = new Map();

function getGroup(req) {
  const name = requireString(req, "group");
  const g = groups.get(name);
  if (g === undefined) fail(`no group named ${JSON.stringify(name)}`);
  return g;
}

function newGroupName(req) {
  const name = requireString(req, "group");
  if (groups.has(name)) fail(`group ${JSON.stringify(name)} already exists`);
  return name;
}

// commitResult stores the new state and returns the framed commit.
function applyOwnCommit(g, result) {
  g.state = result.newState;
  forget(result.consumed);
  return { commit: toHex(encodeMlsMessage(result.commit)), epoch: Number(g.state.groupContext.epoch) };
}

// ---------------------------------------------------------------- ops

const ops = {
  async create_key_package(req) {
    const suite = suiteName(req.suite);
    const impl = await suiteImpl(suite);
    const credential = { credentialType: "basic", identity: identityBytes(req) };
    const kp = await generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], impl);
    const refHex = toHex(await makeKeyPackageRef(kp.publicPackage, impl.hash));
    pendingKeyPackages.push({ suite, refHex, publicPackage: kp.publicPackage, privatePackage: kp.privatePackage });
    const framed = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
    return { key_package: toHex(framed), key_package_ref: refHex };
  },

  async create_group(req) {
    const name = newGroupName(req);
    const suite = suiteName(req.suite);
    const impl = await suiteImpl(suite);
    const groupId = fromHex(requireString(req, "group_id"), "group_id");
    const credential = { credentialType: "basic", identity: identityBytes(req) };
    const kp = await generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], impl);
    const state = await createGroup(groupId, kp.publicPackage, kp.privatePackage, [], impl);
    groups.set(name, { suite, impl, state });
    return { epoch: Number(state.groupContext.epoch), leaf_index: state.privatePath.leafIndex };
  },

  async add(req) {
    const g = getGroup(req);
    const msg = decodeMessage(requireString(req, "key_package"), "key_package", ["mls_key_package"]);
    const result = await createCommit(
      { state: g.state, cipherSuite: g.impl },
      {
        extraProposals: [{ proposalType: "add", add: { keyPackage: msg.keyPackage } }],
        ratchetTreeExtension: optionalBool(req, "ratchet_tree_extension"),
        wireAsPublicMessage: optionalBool(req, "public"),
      },
    );
    if (result.welcome === undefined) fail("ts-mls produced no Welcome for an Add commit");
    const welcome = encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
    const out = applyOwnCommit(g, result);
    return { ...out, welcome: toHex(welcome), ratchet_tree: toHex(encodeRatchetTree(g.state.ratchetTree)) };
  },

  async join(req) {
    const name = newGroupName(req);
    const msg = decodeMessage(requireString(req, "welcome"), "welcome", ["mls_welcome"]);
    const welcome = msg.welcome;
    const suite = welcome.cipherSuite;
    const impl = await suiteImpl(suite);
    const newMemberRefs = new Set(welcome.secrets.map((s) => toHex(s.newMember)));
    const at = pendingKeyPackages.findIndex((kp) => kp.suite === suite && newMemberRefs.has(kp.refHex));
    if (at < 0) fail("Welcome names none of this peer's pending key packages");
    const kp = pendingKeyPackages[at];
    let tree;
    if (req.ratchet_tree !== undefined && req.ratchet_tree !== null && req.ratchet_tree !== "") {
      const treeBytes = fromHex(req.ratchet_tree, "ratchet_tree");
      const decoded = decodeRatchetTree(treeBytes, 0);
      if (decoded === undefined || decoded[1] !== treeBytes.length) fail("field ratchet_tree: not a decodable ratchet tree");
      tree = decoded[0];
    }
    const state = await joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, impl, tree);
    pendingKeyPackages.splice(at, 1);
    groups.set(name, { suite, impl, state });
    return { epoch: Number(state.groupContext.epoch), leaf_index: state.privatePath.leafIndex };
  },

  async process(req) {
    const g = getGroup(req);
    const msg = decodeMessage(requireString(req, "message"), "message", ["mls_private_message", "mls_public_message"]);
    let handshakeKind;
    const accept = (incoming) => {
      handshakeKind = incoming.kind;
      return "accept";
    };
    const result = await processMessage(msg, g.state, emptyPskIndex, accept, g.impl);
    g.state = result.newState;
    forget(result.consumed);
    const epoch = Number(g.state.groupContext.epoch);
    const active = g.state.groupActiveState.kind === "active";
    if (result.kind === "applicationMessage") {
      return { kind: "application", plaintext: toHex(result.message), epoch, active };
    }
    if (result.actionTaken !== "accept") fail(`handshake message was not accepted (${result.actionTaken})`);
    if (handshakeKind !== "commit" && handshakeKind !== "proposal") fail("ts-mls did not report the handshake kind");
    return { kind: handshakeKind, epoch, active };
  },

  async encrypt(req) {
    const g = getGroup(req);
    const plaintext = fromHex(requireString(req, "plaintext"), "plaintext");
    const aad = req.authenticated_data === undefined ? undefined : fromHex(req.authenticated_data, "authenticated_data");
    const result = await createApplicationMessage(g.state, plaintext, g.impl, aad);
    g.state = result.newState;
    forget(result.consumed);
    const framed = encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: result.privateMessage });
    return { message: toHex(framed) };
  },

  async update(req) {
    const g = getGroup(req);
    const result = await createCommit(
      { state: g.state, cipherSuite: g.impl },
      { wireAsPublicMessage: optionalBool(req, "public") },
    );
    return applyOwnCommit(g, result);
  },

  async remove(req) {
    const g = getGroup(req);
    const leaf = req.leaf_index;
    if (!Number.isInteger(leaf) || leaf < 0) fail("field leaf_index: want a non-negative integer");
    const result = await createCommit(
      { state: g.state, cipherSuite: g.impl },
      {
        extraProposals: [{ proposalType: "remove", remove: { removed: leaf } }],
        wireAsPublicMessage: optionalBool(req, "public"),
      },
    );
    return applyOwnCommit(g, result);
  },

  async state(req) {
    const g = getGroup(req);
    const s = g.state;
    return {
      epoch: Number(s.groupContext.epoch),
      epoch_authenticator: toHex(s.keySchedule.epochAuthenticator),
      members: leafIndices(s.ratchetTree),
      own_leaf_index: s.privatePath.leafIndex,
      group_id: toHex(s.groupContext.groupId),
      suite: ciphersuites[g.suite],
      tree_hash: toHex(s.groupContext.treeHash),
      confirmed_transcript_hash: toHex(s.groupContext.confirmedTranscriptHash),
      ratchet_tree: toHex(encodeRatchetTree(s.ratchetTree)),
      active: s.groupActiveState.kind === "active",
    };
  },

  async export(req) {
    const g = getGroup(req);
    const label = typeof req.label === "string" ? req.label : fail("field label: want a string");
    const context = fromHex(req.context ?? "", "context");
    const length = req.length;
    if (!Number.isInteger(length) || length < 0 || length > 65535) fail("field length: want an integer in [0, 65535]");
    const secret = await mlsExporter(g.state.keySchedule.exporterSecret, label, context, length, g.impl);
    return { secret: toHex(secret) };
  },

  async suites() {
    return { suites: Object.entries(ciphersuites).map(([name, id]) => ({ id, name })) };
  },

  async shutdown() {
    shuttingDown = true;
    return {};
  },
};

// ---------------------------------------------------------------- loop

let shuttingDown = false;

function respond(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function handleLine(line) {
  if (line.trim() === "") return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    respond({ id: null, ok: false, error: `request is not JSON: ${e.message}` });
    return;
  }
  const id = req?.id ?? null;
  const op = ops[req?.op];
  if (typeof req !== "object" || req === null || !Object.hasOwn(ops, req.op)) {
    respond({ id, ok: false, error: `unknown op ${JSON.stringify(req?.op)}` });
    return;
  }
  try {
    const result = await op(req);
    respond({ id, ok: true, ...result });
  } catch (e) {
    const kind = e instanceof RequestError ? "bad request" : e?.constructor?.name ?? "error";
    process.stderr.write(`peer: op ${req.op} id ${JSON.stringify(id)} failed: ${kind}: ${e?.message}\n`);
    respond({ id, ok: false, error: `${kind}: ${e?.message ?? String(e)}` });
  }
}

// Requests are handled strictly one after another, in arrival order.
let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  queue = queue.then(() => handleLine(line)).then(() => {
    if (shuttingDown) {
      rl.close();
      process.exit(0);
    }
  });
});
rl.on("close", () => {
  queue.then(() => process.exit(0));
});
