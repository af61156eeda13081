// memfs: the files of the WebAssembly client, in this page's memory.
//
// Go's os package under js/wasm calls a Node-style globalThis.fs
// (syscall/fs_js.go); wasm_exec.js installs one that refuses everything
// but writing to the console. This one, loaded before wasm_exec.js, keeps
// files in memory instead, so that the client's attachment code (sealing a
// picked file and uploading its chunks, fetching a file's chunks into
// NAME.REF.part, verifying each, renaming it into place) runs in the page
// unchanged (docs/browser-client.md "Attachments"). Nothing here is
// persisted: a reload forgets every file; the store (IndexedDB) keeps
// only what the client stores there.
//
// samizdatFiles lets the page hand a picked file to the client (put) and
// take a finished download out as bytes for a Blob (take).
"use strict";

(() => {
  const code = (c, what) => {
    const err = new Error(`${what}: ${c}`);
    err.code = c;
    return err;
  };
  const C = { O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128, O_TRUNC: 512, O_APPEND: 1024, O_DIRECTORY: 65536 };
  const S_IFREG = 0o100000, S_IFDIR = 0o40000;

  // nodes maps a normalized absolute path to {dir, data, size, mtime, ino}.
  const nodes = new Map([["/", { dir: true, mtime: Date.now(), ino: 1 }]]);
  const fds = new Map(); // fd -> {path, node, pos, append}
  let nextFD = 3, nextIno = 2;

  const norm = (p) => {
    const out = [];
    for (const part of String(p).split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") out.pop(); else out.push(part);
    }
    return "/" + out.join("/");
  };
  const parent = (p) => p.slice(0, p.lastIndexOf("/")) || "/";
  const lookup = (path) => {
    const n = nodes.get(norm(path));
    if (!n) throw code("ENOENT", path);
    return n;
  };
  const needParent = (p) => {
    const d = nodes.get(parent(p));
    if (!d) throw code("ENOENT", p);
    if (!d.dir) throw code("ENOTDIR", p);
  };
  const fileOf = (fd) => {
    const f = fds.get(fd);
    if (!f) throw code("EBADF", `fd ${fd}`);
    return f;
  };
  const stat = (n) => ({
    dev: 1, ino: n.ino, mode: n.dir ? S_IFDIR | 0o700 : S_IFREG | 0o600, nlink: 1, uid: 0, gid: 0, rdev: 0,
    size: n.dir ? 0 : n.size, blksize: 4096, blocks: n.dir ? 0 : Math.ceil(n.size / 512),
    atimeMs: n.mtime, mtimeMs: n.mtime, ctimeMs: n.mtime,
    isDirectory() { return !!n.dir; },
  });
  // grow makes room for size bytes in file node n (doubling).
  const grow = (n, size) => {
    if (size <= n.data.length) return;
    const d = new Uint8Array(Math.max(size, n.data.length * 2, 4096));
    d.set(n.data.subarray(0, n.size));
    n.data = d;
  };
  const newFile = (data) => ({ dir: false, data, size: data.length, mtime: Date.now(), ino: nextIno++ });

  // Every call answers through its Node-style callback; a thrown error
  // with a code becomes the callback's error (Go maps it to an errno).
  const cb = (fn) => (...args) => {
    const done = args.pop();
    let v;
    try { v = fn(...args); } catch (err) { done(err.code ? err : code("EIO", err.message)); return; }
    done(null, v);
  };

  const decoder = new TextDecoder("utf-8");
  let outputBuf = "";
  const writeConsole = (buf) => {
    outputBuf += decoder.decode(buf);
    const nl = outputBuf.lastIndexOf("\n");
    if (nl !== -1) {
      console.log(outputBuf.substring(0, nl));
      outputBuf = outputBuf.substring(nl + 1);
    }
    return buf.length;
  };

  globalThis.fs = {
    constants: C,
    writeSync(fd, buf) {
      if (fd === 1 || fd === 2) return writeConsole(buf);
      throw code("EBADF", `fd ${fd}`);
    },
    open: cb((path, flags, mode) => {
      const p = norm(path);
      let n = nodes.get(p);
      if (n && (flags & C.O_CREAT) && (flags & C.O_EXCL)) throw code("EEXIST", path);
      if (!n) {
        if (!(flags & C.O_CREAT)) throw code("ENOENT", path);
        needParent(p);
        n = newFile(new Uint8Array(0));
        nodes.set(p, n);
      }
      if (n.dir && (flags & (C.O_WRONLY | C.O_RDWR))) throw code("EISDIR", path);
      if (!n.dir && (flags & C.O_DIRECTORY)) throw code("ENOTDIR", path);
      if (!n.dir && (flags & C.O_TRUNC)) n.size = 0;
      const fd = nextFD++;
      fds.set(fd, { path: p, node: n, pos: 0, append: !!(flags & C.O_APPEND) });
      return fd;
    }),
    close: cb((fd) => { fileOf(fd); fds.delete(fd); }),
    fstat: cb((fd) => stat(fileOf(fd).node)),
    stat: cb((path) => stat(lookup(path))),
    lstat: cb((path) => stat(lookup(path))),
    fsync: cb(() => undefined),
    read: cb((fd, buffer, offset, length, position) => {
      const f = fileOf(fd);
      if (f.node.dir) throw code("EISDIR", f.path);
      const at = position === null || position === undefined ? f.pos : position;
      const n = Math.max(0, Math.min(length, f.node.size - at));
      buffer.set(f.node.data.subarray(at, at + n), offset);
      if (position === null || position === undefined) f.pos += n;
      return n;
    }),
    write: cb((fd, buffer, offset, length, position) => {
      if (fd === 1 || fd === 2) return writeConsole(buffer.subarray(offset, offset + length));
      const f = fileOf(fd);
      const n = f.node;
      const at = f.append ? n.size : position === null || position === undefined ? f.pos : position;
      grow(n, at + length);
      n.data.set(buffer.subarray(offset, offset + length), at);
      n.size = Math.max(n.size, at + length);
      n.mtime = Date.now();
      if (position === null || position === undefined) f.pos = at + length;
      return length;
    }),
    ftruncate: cb((fd, length) => truncate(fileOf(fd).node, length)),
    truncate: cb((path, length) => truncate(lookup(path), length)),
    mkdir: cb((path) => {
      const p = norm(path);
      if (nodes.has(p)) throw code("EEXIST", path);
      needParent(p);
      nodes.set(p, { dir: true, mtime: Date.now(), ino: nextIno++ });
    }),
    readdir: cb((path) => {
      const p = norm(path);
      if (!lookup(p).dir) throw code("ENOTDIR", path);
      const prefix = p === "/" ? "/" : p + "/";
      return [...nodes.keys()].filter((k) => k !== p && k.startsWith(prefix) && !k.slice(prefix.length).includes("/"))
        .map((k) => k.slice(prefix.length));
    }),
    unlink: cb((path) => {
      if (lookup(path).dir) throw code("EISDIR", path);
      nodes.delete(norm(path));
    }),
    rmdir: cb((path) => {
      const p = norm(path);
      if (!lookup(p).dir) throw code("ENOTDIR", path);
      for (const k of nodes.keys()) if (k.startsWith(p + "/")) throw code("ENOTEMPTY", path);
      nodes.delete(p);
    }),
    rename: cb((from, to) => {
      const a = norm(from), b = norm(to);
      const n = lookup(a);
      if (n.dir) throw code("EINVAL", "renaming a directory");
      needParent(b);
      if (nodes.get(b)?.dir) throw code("EISDIR", to);
      nodes.delete(a);
      nodes.set(b, n);
    }),
    chmod: cb(() => undefined), fchmod: cb(() => undefined),
    chown: cb(() => undefined), fchown: cb(() => undefined), lchown: cb(() => undefined),
    utimes: cb(() => undefined),
    readlink: cb((path) => { lookup(path); throw code("EINVAL", path); }),
    link: cb(() => { throw code("ENOSYS", "link"); }),
    symlink: cb(() => { throw code("ENOSYS", "symlink"); }),
  };

  function truncate(n, length) {
    if (n.dir) throw code("EISDIR", "truncate");
    grow(n, length);
    if (length > n.size) n.data.fill(0, n.size, length);
    n.size = length;
  }

  globalThis.samizdatFiles = {
    // put stores bytes (kept, not copied) as the file at path, making its
    // directories.
    put(path, bytes) {
      const p = norm(path);
      let d = "";
      for (const part of parent(p).split("/").filter(Boolean)) {
        d += "/" + part;
        if (!nodes.has(d)) nodes.set(d, { dir: true, mtime: Date.now(), ino: nextIno++ });
      }
      nodes.set(p, newFile(bytes));
    },
    // take removes the file at path and returns its bytes.
    take(path) {
      const p = norm(path);
      const n = lookup(p);
      nodes.delete(p);
      return n.data.subarray(0, n.size);
    },
    // bytes is how many bytes the files hold (for tests and the console).
    bytes() {
      let sum = 0;
      for (const n of nodes.values()) if (!n.dir) sum += n.size;
      return sum;
    },
  };
})();
