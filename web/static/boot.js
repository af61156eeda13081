// Loading the WebAssembly client: fetch it, hash what was fetched (shown
// in the app, to compare with the hash the server or relay prints), run it.
import { $ } from "./dom.js";

export async function loadClient() {
  const resp = await fetch("samizdat.wasm");
  if (!resp.ok) throw new Error(`the app could not be loaded (HTTP ${resp.status}): ${await resp.text()}`);
  const bytes = await resp.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hash = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const ready = new Promise((resolve) => {
    if (globalThis.samizdat) resolve();
    else window.addEventListener("samizdat-ready", resolve, { once: true });
  });
  const go = new Go();
  const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
  go.run(instance).then(() => {
    $("boot-msg").textContent = "The app stopped. Reload the page.";
  });
  await ready;
  return { api: globalThis.samizdat, hash, size: bytes.byteLength };
}

// wsURL is where the client's WebSocket goes: <the app's path>ws on this origin.
export function wsURL() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const dir = location.pathname.replace(/[^/]*$/, "");
  return `${scheme}//${location.host}${dir}ws`;
}

// serverLinkFromHash reads the server link the app URL carries after '#'
// (never sent to the web server). The app URL is the https form of the
// server link (docs/spec/links.md); the client gets it as samizdat://…,
// whose checksum covers the same text. Its own %-escapes stay.
export function serverLinkFromHash() {
  const body = location.hash.slice(1);
  return /^(server|relay)\?/.test(body) ? `samizdat://${body}` : "";
}
