// Scanning a link's QR code into a form field: frames from the camera
// (getUserMedia; a browser allows it on https and on localhost only) or a
// picked photo, drawn on a canvas at most 1024 pixels a side, decoded by
// the client (api.scanQR). The camera stops when the code is read or the
// dialog closes. Nothing leaves the page.
import { $ } from "./dom.js";

let api = null;
let target = null; // the field the link goes into
let stream = null;
let timer = 0;
const side = 1024;
const canvas = document.createElement("canvas");

export function initScan(a) {
  api = a;
  for (const b of document.querySelectorAll("button.scan")) {
    b.addEventListener("click", () => openScanner(b.dataset.target));
  }
  $("dlg-scan").addEventListener("close", stopCamera);
  $("scan-file").addEventListener("change", scanPicked);
}

const say = (text) => { $("scan-msg").textContent = text; };

async function openScanner(id) {
  target = $(id);
  $("scan-file").value = "";
  $("dlg-scan").showModal();
  if (!navigator.mediaDevices?.getUserMedia) {
    say("This page cannot use the camera here (it needs https). Pick a photo of the code instead.");
    return;
  }
  say("Starting the camera…");
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (err) {
    say(`The camera could not start (${err.name || err.message}). Pick a photo of the code instead.`);
    return;
  }
  if (!$("dlg-scan").open) { stopCamera(); return; }
  const video = $("scan-video");
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => {});
  say("Hold the QR code in front of the camera.");
  // A frame that fails in any way (a video not yet painted, a decoder
  // error) must not end the loop: it goes on while the camera is on.
  let ticks = 0;
  const tick = async () => {
    if (!stream) return;
    if (++ticks % 20 === 0) console.debug(`scan: ${ticks} frames tried, video ${video.videoWidth}x${video.videoHeight}, ready state ${video.readyState}`);
    try {
      if (video.videoWidth > 0 && await scan(video, video.videoWidth, video.videoHeight)) return;
    } catch (err) {
      console.debug(`scan: frame not read: ${err && err.message}`);
    }
    if (stream) timer = setTimeout(tick, 250);
  };
  tick();
}

function stopCamera() {
  clearTimeout(timer);
  if (stream) for (const t of stream.getTracks()) t.stop();
  stream = null;
  $("scan-video").srcObject = null;
  $("scan-video").hidden = true;
}

async function scanPicked() {
  const file = $("scan-file").files[0];
  if (!file) return;
  say("Reading the photo…");
  let bmp;
  try {
    bmp = await createImageBitmap(file);
  } catch {
    say("That file is not a picture this browser can read; pick a PNG or JPEG photo of the code.");
    return;
  }
  if (!(await scan(bmp, bmp.width, bmp.height))) say("No QR code could be read in that picture; try a sharper or closer one.");
  bmp.close();
}

// scan decodes one frame of source (w x h); it fills the target field and
// closes the dialog when the frame shows a code.
async function scan(source, w, h) {
  const k = Math.min(1, side / Math.max(w, h));
  canvas.width = Math.max(1, Math.round(w * k));
  canvas.height = Math.max(1, Math.round(h * k));
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.drawImage(source, 0, 0, canvas.width, canvas.height);
  const px = g.getImageData(0, 0, canvas.width, canvas.height);
  let text = "";
  try {
    text = await api.scanQR({ pixels: px.data, width: px.width, height: px.height });
  } catch (err) {
    say(err.message);
    return false;
  }
  if (!text) return false;
  target.value = text;
  target.dispatchEvent(new Event("input", { bubbles: true }));
  stopCamera();
  $("dlg-scan").close();
  return true;
}
