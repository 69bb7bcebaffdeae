// The page of the gait API: identify from a video or the webcam (with the skeleton drawn over the walk),
// and an admin view to enrol, list and delete identities with the server's token. Plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { file: null, stream: null, people: [], fps: 25 };
const COLOURS = ["#f59e0b", "#3b82f6", "#10b981", "#ef4444", "#8b5cf6", "#ec4899"];

function setStatus(el, text, bad = false) {
  el.textContent = text;
  el.classList.toggle("error", bad);
}

async function callApi(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = { error: response.statusText }; }
  if (!response.ok) throw new Error(`${response.status}: ${body.error || response.statusText}`);
  return body;
}

// -- identify ----------------------------------------------------------------------------------------------
function showAnswer(answer) {
  $("answer").hidden = false;
  $("identity").textContent = answer.identity;
  const named = answer.threshold == null ? "" : `, a name from ${answer.threshold}`;
  $("similarity").textContent = answer.similarity == null ? "" : `(similarity ${answer.similarity}${named}, ${answer.clips} clips)`;
  const strangers = answer.strangers_named;  // how often this threshold names a stranger against who is enrolled now
  $("similarity").title = [
    answer.threshold_from,
    strangers && `${(100 * strangers.estimate).toFixed(1)}% of strangers named against the ${strangers.against}; ` +
      `${strangers.threshold_for_target} would keep ${100 * strangers.target}%`,
  ].filter(Boolean).join("\n");
  const rows = $("topk").querySelector("tbody");
  rows.innerHTML = "";
  answer.candidates.forEach((c, i) => {
    const tr = document.createElement("tr");
    [i + 1, c.identity, c.similarity, c.svm_probability == null ? "–" : c.svm_probability].forEach((v) => {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    });
    rows.appendChild(tr);
  });
  state.people = answer.people || [];
  state.fps = answer.fps || 25;
  const found = $("people-found").querySelector("tbody");
  found.innerHTML = "";
  state.people.forEach((p, i) => {
    const tr = document.createElement("tr");
    tr.style.color = COLOURS[i % COLOURS.length];
    [`#${i + 1} (track ${p.track_id ?? "–"})`, p.identity, p.similarity ?? "–", `${p.first_frame}–${p.last_frame}`].forEach((v) => {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    });
    found.appendChild(tr);
  });
  drawPeople();
}

// Each person's box (the one of the frame shown, else their nearest) with their answer, over the video.
function drawPeople() {
  const video = $("preview");
  const canvas = $("boxes");
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const frame = Math.round((video.currentTime || 0) * state.fps);
  let drawn = 0;
  state.people.forEach((p, i) => {
    if (!p.boxes || !p.boxes.length) return;
    let best = p.boxes[0];
    p.boxes.forEach((b) => { if (Math.abs(b[0] - frame) < Math.abs(best[0] - frame)) best = b; });
    const [, x0, y0, x1, y1] = best;
    const colour = COLOURS[i % COLOURS.length];
    ctx.lineWidth = Math.max(2, canvas.width / 200);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const label = `${p.identity}${p.similarity == null ? "" : ` ${p.similarity}`}`;
    ctx.font = `${Math.max(12, canvas.width / 40)}px system-ui, sans-serif`;
    const w = ctx.measureText(label).width + 6;
    ctx.fillStyle = colour;
    ctx.fillRect(x0, Math.max(0, y0 - 18), w, 18);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x0 + 3, Math.max(13, y0 - 4));
    drawn += 1;
  });
  canvas.dataset.people = String(drawn);
}

async function identifyFile() {
  if (!state.file) return;
  setStatus($("status"), "Identifying…");
  try {
    const answer = await callApi("identify?top_k=5", {
      method: "POST",
      headers: { "Content-Type": state.file.type || "video/mp4" },
      body: state.file,
    });
    showAnswer(answer);
    setStatus($("status"), "Done.");
  } catch (e) {
    setStatus($("status"), `Could not identify: ${e.message}`, true);
  }
}

function frameBlob(video) {
  const c = document.createElement("canvas");
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  c.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => c.toBlob(resolve, "image/png"));
}

async function drawSkeleton(video) {
  const overlay = $("overlay");
  overlay.width = video.videoWidth;
  overlay.height = video.videoHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  try {
    const pose = await callApi("pose", { method: "POST", headers: { "Content-Type": "image/png" }, body: await frameBlob(video) });
    ctx.lineWidth = Math.max(2, overlay.width / 160);
    ctx.strokeStyle = "#22c55e";
    (pose.bones || []).forEach(([a, b]) => {
      ctx.beginPath();
      ctx.moveTo(pose.joints[a][0], pose.joints[a][1]);
      ctx.lineTo(pose.joints[b][0], pose.joints[b][1]);
      ctx.stroke();
    });
    ctx.fillStyle = "#ef4444";
    pose.joints.forEach(([x, y]) => { ctx.beginPath(); ctx.arc(x, y, ctx.lineWidth * 1.2, 0, 2 * Math.PI); ctx.fill(); });
    overlay.dataset.joints = String(pose.joints.length);
  } catch (e) {
    overlay.dataset.joints = "0";
  }
}

$("video-file").addEventListener("change", (ev) => {
  state.file = ev.target.files[0] || null;
  $("identify-btn").disabled = !state.file;
  if (!state.file) return;
  const video = $("preview");
  if (state.stream) stopCamera();
  video.srcObject = null;
  video.src = URL.createObjectURL(state.file);
  video.addEventListener("loadeddata", () => {
    video.currentTime = Math.min(video.duration / 2 || 0, 1.0);
  }, { once: true });
  video.addEventListener("seeked", () => drawSkeleton(video), { once: true });
  setStatus($("status"), `Ready: ${state.file.name}`);
});
$("identify-btn").addEventListener("click", identifyFile);
$("preview").addEventListener("timeupdate", () => { if (state.people.length) drawPeople(); });
$("preview").addEventListener("seeked", () => { if (state.people.length) drawPeople(); });

// -- webcam ------------------------------------------------------------------------------------------------
function stopCamera() {
  state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("record-btn").disabled = true;
  setStatus($("camera-state"), "");
}

$("camera-btn").addEventListener("click", async () => {
  if (state.stream) { stopCamera(); return; }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  } catch (e) {
    setStatus($("camera-state"), `No camera: ${e.message}`, true);
    return;
  }
  const video = $("preview");
  video.removeAttribute("src");
  video.srcObject = state.stream;
  await video.play();
  $("record-btn").disabled = false;
  setStatus($("camera-state"), "Camera on.");
});

$("record-btn").addEventListener("click", async () => {
  const video = $("preview");
  const frames = [];
  const c = document.createElement("canvas");
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  setStatus($("status"), "Recording 4 s…");
  for (let i = 0; i < 40; i++) {
    c.getContext("2d").drawImage(video, 0, 0);
    frames.push(c.toDataURL("image/jpeg", 0.85));
    await new Promise((r) => setTimeout(r, 100));
  }
  drawSkeleton(video);
  setStatus($("status"), "Identifying…");
  try {
    const answer = await callApi("identify?top_k=5", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ frames }),
    });
    showAnswer(answer);
    setStatus($("status"), "Done.");
  } catch (e) {
    setStatus($("status"), `Could not identify: ${e.message}`, true);
  }
});

// -- admin -------------------------------------------------------------------------------------------------
const auth = () => ({ Authorization: `Bearer ${$("token").value}` });

async function listPeople() {
  try {
    const data = await callApi("identities", { headers: auth() });
    const rows = $("people").querySelector("tbody");
    rows.innerHTML = "";
    data.identities.forEach((p) => {
      const tr = document.createElement("tr");
      [p.name, p.vectors, p.created_at.slice(0, 19).replace("T", " ")].forEach((v) => {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      });
      const td = document.createElement("td");
      const del = document.createElement("button");
      del.textContent = "Delete";
      del.className = "delete";
      del.dataset.name = p.name;
      del.dataset.id = p.id;
      del.addEventListener("click", () => deletePerson(p));
      td.appendChild(del);
      tr.appendChild(td);
      rows.appendChild(tr);
    });
    setStatus($("admin-status"), `${data.count} enrolled.`);
  } catch (e) {
    setStatus($("admin-status"), `Could not list: ${e.message}`, true);
  }
}

// By id, not name: erasure must work whatever characters a name has (a "/", a "%", "..").
async function deletePerson(p) {
  if (!window.confirm(`Delete ${p.name} and every vector of them?`)) return;
  try {
    const r = await callApi(`identities?id=${encodeURIComponent(p.id)}`, { method: "DELETE", headers: auth() });
    await listPeople();
    setStatus($("admin-status"), `Deleted ${r.deleted} (${r.vectors} vectors).`);
  } catch (e) {
    setStatus($("admin-status"), `Could not delete: ${e.message}`, true);
  }
}

$("list-btn").addEventListener("click", listPeople);
$("enrol-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData();
  form.append("name", $("enrol-name").value);
  for (const f of $("enrol-files").files) form.append("video", f, f.name);
  setStatus($("admin-status"), "Enrolling…");
  try {
    const r = await callApi("identities", { method: "POST", headers: auth(), body: form });
    await listPeople();
    setStatus($("admin-status"), `Enrolled ${r.identity} (${r.vectors} vectors).`);
  } catch (e) {
    setStatus($("admin-status"), `Could not enrol: ${e.message}`, true);
  }
});
