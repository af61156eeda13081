// The samizdat browser app: screens and events around the WebAssembly
// client's API (globalThis.samizdat, see /work docs/spec/web-app.md).
import { $, el, show, fail, dayOf, timeOf, stateMark } from "./dom.js";
import { loadClient, wsURL, serverLinkFromHash } from "./boot.js";
import { initFiles, fileView, sendPicked } from "./files.js";
import { initScan } from "./scan.js";

let api = null;
let current = null; // the open chat: {id, kind, title}
let chatsCache = [];

async function main() {
  let loaded;
  try {
    loaded = await loadClient();
  } catch (err) {
    $("boot-msg").textContent = err.message || String(err);
    return;
  }
  api = loaded.api;
  initFiles(api);
  initScan(api);
  $("bundle").textContent = `app sha256 ${loaded.hash} (${loaded.size} bytes): compare with what the server or relay prints`;
  document.body.dataset.bundle = loaded.hash;
  wireWelcome();
  wireApp();
  const have = await api.exists();
  $("open-form").hidden = !have;
  $("create-form").hidden = have;
  $("device-form").hidden = have;
  $("create-link").value = serverLinkFromHash();
  show("welcome");
  (have ? $("open-pass") : $("create-name")).focus();
}

// testKDF: the browser tests (web/e2e, through DevTools) set this global to
// make the store's key derivation cheap; nothing in the page or a URL can.
const testKDF = () => ({ testLightKDF: globalThis.samizdatTestLightKDF === true });

function wireWelcome() {
  $("open-form").addEventListener("submit", (ev) => submit(ev, "open-error", async () => {
    const acct = await api.open({ passphrase: $("open-pass").value, wsURL: wsURL(), ...testKDF() });
    $("open-pass").value = "";
    await enter(acct);
  }));
  $("create-form").addEventListener("submit", (ev) => submit(ev, "create-error", async () => {
    const acct = await api.create({ name: $("create-name").value.trim(), passphrase: $("create-pass").value,
      serverLink: $("create-link").value.trim(), wsURL: wsURL(), ...testKDF() });
    $("create-pass").value = "";
    await enter(acct);
  }));
  $("device-form").addEventListener("submit", (ev) => submit(ev, "device-error", linkThisBrowser));
}

// linkThisBrowser links the page as a new device of an account: it shows
// the one-time code and verification number, and opens the account once a
// device of it approved ('samizdat device approve CODE').
async function linkThisBrowser() {
  const r = await api.linkDevice({ passphrase: $("device-pass").value, serverLink: serverLinkFromHash(),
    wsURL: wsURL(), ...testKDF() });
  $("device-pass").value = "";
  $("device-cmd").textContent = `samizdat device approve ${r.code}`;
  $("device-verify").textContent = r.verification;
  $("device-wait").hidden = false;
  const acct = await api.linkWait();
  $("device-wait").hidden = true;
  await enter(acct);
}

// submit runs fn for a form, showing its error (user-facing text) in errId.
async function submit(ev, errId, fn) {
  ev.preventDefault();
  const button = ev.target.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  fail(errId, "");
  try {
    await fn();
  } catch (err) {
    fail(errId, err);
  } finally {
    if (button) button.disabled = false;
  }
}

async function enter(acct) {
  $("me").textContent = acct.name;
  show("app");
  api.on("status", renderStatus);
  api.on("chats", () => { refreshChats(); if (current) renderHistory(); });
  api.on("message", onMessage);
  renderStatus(await api.status());
  await refreshChats();
  if ("Notification" in window && Notification.permission === "default") $("btn-notify").hidden = false;
}

function renderStatus(s) {
  const st = $("status");
  st.className = `status ${s.state}`;
  const words = { connected: "connected", connecting: "reconnecting…", offline: "offline" }[s.state] || s.state;
  st.textContent = s.via ? `${words} via ${s.via}` : words;
  st.title = s.detail || "";
  document.body.dataset.status = s.state;
}

async function refreshChats() {
  chatsCache = await api.chats();
  const list = $("chats");
  list.replaceChildren();
  for (const c of chatsCache) {
    const li = el("li", c.id === current?.id ? "active" : "");
    li.dataset.chat = c.id;
    li.append(el("span", "title", c.title));
    if (c.unread > 0) li.append(el("span", "unread", c.unread));
    if (c.last) li.append(el("span", "last", c.last.text));
    li.addEventListener("click", () => openChat(c));
    list.append(li);
  }
}

async function openChat(c) {
  current = c;
  $("app").classList.add("in-chat");
  $("conv-title").textContent = c.title;
  $("btn-members").hidden = c.kind !== "group";
  $("btn-share").hidden = c.kind !== "channel";
  $("conv-empty").hidden = true;
  $("composer").hidden = false;
  await renderHistory();
  await api.markRead({ chatId: c.id });
  await refreshChats();
  $("text").focus();
}

// renderHistory draws the open chat's last messages again (states change:
// queued, sent, delivered).
async function renderHistory() {
  const chat = current;
  const items = await api.history({ chatId: chat.id, limit: 200 });
  if (current !== chat) return;
  const ol = $("messages");
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  ol.replaceChildren();
  delete ol.dataset.lastDay;
  for (const m of items) appendMessage(m, false);
  if (atBottom) ol.scrollTop = ol.scrollHeight;
}

function appendMessage(m, scroll = true) {
  const ol = $("messages");
  const day = dayOf(m.at);
  if (ol.dataset.lastDay !== day) {
    ol.append(el("li", "day", day));
    ol.dataset.lastDay = day;
  }
  let li = m.id ? ol.querySelector(`li.msg[data-id="${CSS.escape(m.id)}"]`) : null;
  if (!li) {
    li = el("li", m.mine ? "msg mine" : "msg");
    li.dataset.id = m.id;
    ol.append(li);
  }
  li.replaceChildren();
  if (!m.mine && current?.kind !== "direct") li.append(el("div", "from", m.fromName || m.from));
  if (m.file) li.append(fileView(m.chatId, m));
  if (!m.file || m.text) li.append(el("div", "text", m.text));
  const meta = [timeOf(m.at)];
  if (m.mine && stateMark[m.state]) meta.push(stateMark[m.state]);
  if (m.views !== undefined) meta.push(`${m.views} views`);
  li.append(el("div", "meta", meta.join(" · ")));
  li.dataset.state = m.state || "";
  if (scroll) ol.scrollTop = ol.scrollHeight;
}

function onMessage(m) {
  if (current && m.chatId === current.id) {
    appendMessage(m);
    if (!document.hidden) api.markRead({ chatId: current.id });
  }
  if (!m.mine && document.hidden && "Notification" in window && Notification.permission === "granted") {
    new Notification(m.fromName || "samizdat", { body: m.text.slice(0, 200), tag: m.chatId });
  }
}

function wireApp() {
  $("composer").addEventListener("submit", (ev) => { ev.preventDefault(); sendCurrent(); });
  $("btn-file").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", async () => {
    try {
      await sendPicked($("file-input"), current.id);
      await renderHistory();
    } catch (err) {
      $("status").textContent = err.message || String(err);
    }
  });
  $("text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendCurrent(); }
  });
  $("btn-back").addEventListener("click", () => { $("app").classList.remove("in-chat"); current = null; refreshChats(); });
  $("btn-notify").addEventListener("click", async () => {
    await Notification.requestPermission();
    $("btn-notify").hidden = Notification.permission !== "default";
  });
  $("btn-invite").addEventListener("click", async () => {
    showLink("Your invite", await api.inviteLink(), await api.inviteQR());
  });
  $("btn-share").addEventListener("click", async () => {
    const r = await api.channelLink({ chatId: current.id });
    showLink(`Channel ${current.title}: its link for readers`, r.link, r.qr);
  });
  for (const d of document.querySelectorAll("dialog")) {
    for (const b of d.querySelectorAll("button.close")) b.addEventListener("click", () => d.close());
  }
  dialogForm("btn-add", "dlg-add", "add-form", "add-error", async () => {
    const name = $("add-name").value.trim();
    const r = await api.addContact({ link: $("add-link").value.trim(), name });
    return { id: r.chatId, kind: "direct", title: name };
  });
  dialogForm("btn-group", "dlg-group", "group-form", "group-error", async () => {
    const members = $("group-members").value.split("\n").map((s) => s.trim()).filter(Boolean);
    const title = $("group-title").value.trim();
    const r = await api.createGroup({ title, members });
    return { id: r.chatId, kind: "group", title };
  });
  dialogForm("btn-follow", "dlg-follow", "follow-form", "follow-error", async () => {
    const r = await api.followChannel({ link: $("follow-link").value.trim() });
    return { id: r.chatId, kind: "channel", title: r.title || r.chatId };
  });
  dialogForm("btn-channel", "dlg-channel", "channel-form", "channel-error", async () => {
    const r = await api.createChannel({ name: $("channel-name").value.trim() });
    return { id: r.chatId, kind: "channel", title: r.title };
  });
  $("btn-members").addEventListener("click", showMembers);
  $("member-form").addEventListener("submit", (ev) => submit(ev, "member-error", async () => {
    await api.addMember({ chatId: current.id, name: $("member-name").value.trim() });
    $("member-name").value = "";
    await showMembers();
  }));
}

// showLink shows a link and its QR code (an invite, a channel's link).
function showLink(title, link, qr) {
  $("invite-title").textContent = title;
  $("invite-link").value = link;
  $("invite-qr").src = qr;
  $("dlg-invite").showModal();
}

// dialogForm opens a dialog from a button; on submit it runs fn and opens
// the chat fn returns ({id, kind, title}), as listed once the list has it.
function dialogForm(btn, dlg, form, errId, fn) {
  $(btn).addEventListener("click", () => { $(form).reset(); fail(errId, ""); $(dlg).showModal(); });
  $(form).addEventListener("submit", (ev) => submit(ev, errId, async () => {
    const made = await fn();
    $(dlg).close();
    await refreshChats();
    await openChat(chatsCache.find((x) => x.id === made.id) || made);
  }));
}

async function showMembers() {
  const ul = $("member-list");
  ul.replaceChildren();
  for (const m of await api.members({ chatId: current.id })) {
    const li = el("li", "", m.name);
    const rm = el("button", "", "remove");
    rm.type = "button";
    rm.addEventListener("click", async () => {
      try { await api.removeMember({ chatId: current.id, name: m.name }); await showMembers(); } catch (err) { fail("member-error", err); }
    });
    li.append(rm);
    ul.append(li);
  }
  if (!$("dlg-members").open) $("dlg-members").showModal();
}

async function sendCurrent() {
  const ta = $("text");
  const text = ta.value;
  if (!current || text.trim() === "") return;
  ta.value = "";
  try {
    const send = current.kind === "channel" ? api.post : api.send;
    await send({ chatId: current.id, text });
    await renderHistory(); // the store's record, with its id and state: never a second copy
  } catch (err) {
    ta.value = text;
    $("status").textContent = err.message || String(err);
  }
}

main();
