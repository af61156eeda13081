// DOM helpers. Every string from another user goes through text(): it sets
// textContent, never markup, so a message cannot become HTML or script.
export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

export function show(id) {
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== id;
}

export function fail(id, err) {
  $(id).textContent = err && err.message ? err.message : String(err || "");
}

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric" });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export const dayOf = (ms) => dayFmt.format(new Date(ms));
export const timeOf = (ms) => timeFmt.format(new Date(ms));

export const stateMark = { queued: "… queued", sent: "✓ sent", delivered: "✓✓ delivered", received: "" };
