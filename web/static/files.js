// Attachments in a conversation (docs/browser-client.md "Attachments"):
// name, size and state as text; images inline, first the sender's small
// thumbnail (a data: URL), then the full image from a Blob URL once the
// client has fetched and verified every chunk; a Save link (a Blob of type
// application/octet-stream with <a download>) for any file. The name is
// only ever text (textContent, the download and alt attributes).
import { el } from "./dom.js";

let api = null;
const items = new Map(); // key -> {chatId, m}: the last drawn message of each file
const done = new Map(); // key -> {save, inline}: Blob URLs of a fetched file
const thumbs = new Map(); // key -> thumbnail data: URL ("" if none)
const pending = new Map(); // key -> the download in progress
const progress = new Map(); // key -> "done/total" chunks
const failed = new Map(); // key -> why the download failed

// autoFetch: images up to this size are fetched as they are shown.
const autoFetch = 16 << 20;

export function initFiles(a) {
  api = a;
  api.on("file", (p) => {
    progress.set(p.key, `${p.done}/${p.total}`);
    redraw(p.key);
  });
}

const keyOf = (chatId, m) => `${chatId}\n${m.id}`; // a chat's name has no line break

export function sizeText(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(1)} GiB`;
}

function stateText(key, f) {
  if (failed.has(key)) return `not downloaded: ${failed.get(key)}`;
  if (done.has(key)) return "downloaded, every chunk verified";
  if (pending.has(key)) return `downloading ${progress.get(key) || ""}`.trim();
  return { available: "on the server", sent: "sent", downloaded: "downloaded before" }[f.state] || f.state;
}

// fileView draws the attachment of message m of chatId.
export function fileView(chatId, m) {
  const key = keyOf(chatId, m);
  const f = m.file;
  items.set(key, { chatId, m });
  const box = el("div", "file");
  box.dataset.key = key;
  const have = done.get(key);
  if (f.image) {
    const img = el("img", "preview");
    img.alt = f.name;
    if (have?.inline) {
      img.src = have.inline;
      img.classList.add("full");
    } else if (thumbs.get(key)) {
      img.src = thumbs.get(key);
      img.classList.add("thumb");
    } else if (f.thumbnail && !thumbs.has(key)) {
      loadThumb(key, chatId, m);
    }
    if (img.src) box.append(img);
  }
  const info = el("div", "file-info");
  info.append(el("span", "fname", f.name), el("span", "fsize", sizeText(f.size)), el("span", "fstate", stateText(key, f)));
  box.append(info);
  if (have) {
    const a = el("a", "save", "Save");
    a.href = have.save;
    a.type = have.saveType; // the Blob's own type (a hint, and what the tests read)
    a.download = f.name;
    box.append(a);
  } else if (!pending.has(key)) {
    const b = el("button", "fetch", "Download");
    b.type = "button";
    b.addEventListener("click", () => fetchFile(key, chatId, m));
    box.append(b);
    if (f.image && f.size <= autoFetch && !failed.has(key)) fetchFile(key, chatId, m);
  }
  return box;
}

async function loadThumb(key, chatId, m) {
  thumbs.set(key, "");
  try {
    thumbs.set(key, await api.thumbnail({ chatId, id: String(m.id) }));
  } catch (err) {
    console.debug(`thumbnail: ${err.message}`);
  }
  redraw(key);
}

// fetchFile has the client fetch and verify the file, then keeps it as
// Blob URLs: one to save (never rendered by the page), one to show inline
// when the bytes are an image of a type the client recognised.
function fetchFile(key, chatId, m) {
  if (pending.has(key) || done.has(key)) return;
  failed.delete(key);
  const p = (async () => {
    try {
      const r = await api.download({ chatId, id: String(m.id), key });
      const saved = new Blob([globalThis.samizdatFiles.take(r.path)], { type: "application/octet-stream" });
      done.set(key, {
        save: URL.createObjectURL(saved),
        saveType: saved.type,
        inline: r.inlineType ? URL.createObjectURL(new Blob([saved], { type: r.inlineType })) : "",
      });
    } catch (err) {
      failed.set(key, err.message || String(err));
    } finally {
      pending.delete(key);
      redraw(key);
    }
  })();
  pending.set(key, p);
}

// redraw draws the file of key again where it is shown.
function redraw(key) {
  const it = items.get(key);
  if (!it) return;
  for (const box of document.querySelectorAll("div.file")) {
    if (box.dataset.key === key) box.replaceWith(fileView(it.chatId, it.m));
  }
}

// pickAndSend sends the files picked in input to chatId, one at a time.
export async function sendPicked(input, chatId) {
  const picked = [...input.files];
  input.value = "";
  for (const file of picked) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    await api.sendFile({ chatId, name: file.name, bytes });
  }
}
