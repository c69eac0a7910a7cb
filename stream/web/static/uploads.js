// Photo and video uploads: builds its whole UI inside <section id="uploads">.
// Plain JS, no library, no build step. Talks to the routes of stream/web/uploads.py:
// POST api/photo, POST api/video, GET api/jobs, GET api/files/ID/NAME[?download=1].
// Every video sent from this tab keeps its own row (state, queue place, progress, download),
// also after a reload. When the page was opened with ?token=..., every request and link carries it too.
(function () {
  "use strict";

  const section = document.getElementById("uploads");
  if (!section) return;
  const token = new URLSearchParams(location.search).get("token");
  const POLL_MS = 500;
  let limits = null; // {max_mb, keep_minutes, max_queued} from GET api/jobs

  // "/api/x" or "api/x" -> a URL relative to this page (works behind a path prefix), with the token
  function url(path, extra) {
    const u = new URL(path.replace(/^\//, ""), document.baseURI);
    if (token) u.searchParams.set("token", token);
    for (const [k, v] of Object.entries(extra || {})) u.searchParams.set(k, v);
    return u.toString();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  const style = el("style", {
    text: "#uploads .drop{border:2px dashed #888;border-radius:8px;padding:1em;margin:.5em 0}" +
      "#uploads .drop.over{border-color:#f90;background:rgba(255,153,0,.08)}" +
      "#uploads .error{color:#c00}#uploads img,#uploads video{max-width:100%;display:block;margin:.5em 0}" +
      "#uploads progress{width:100%}#uploads .links a{margin-right:1em}" +
      "#video-jobs{padding-left:1.2em}#video-jobs li{margin:.5em 0}#video-jobs .job-status{margin:.2em 0}",
  });

  // -- photo -------------------------------------------------------------------------
  const photoInput = el("input", { type: "file", id: "photo-input", accept: "image/*" });
  const photoError = el("p", { id: "photo-error", class: "error", role: "alert" });
  const photoBusy = el("p", { id: "photo-busy" });
  const photoResult = el("img", { id: "photo-result", alt: "the photo and its depth, side by side" });
  const photoDepth = el("img", { id: "photo-depth", alt: "the depth map (16-bit, grey: near is bright)" });
  const photoLinks = el("p", { id: "photo-downloads", class: "links" });
  const photoOut = el("div", { id: "photo-output", hidden: "" }, photoResult, photoDepth, photoLinks);
  const photoDrop = el("div", { class: "drop" },
    el("h3", { text: "Photo" }),
    el("label", { for: "photo-input", text: "Drop a photo here or pick one: " }), photoInput,
    photoBusy, photoError, photoOut);

  // -- video: one row per upload of this browser session, kept across reloads ----------
  const videoInput = el("input", { type: "file", id: "video-input", accept: "video/*" });
  const videoJobs = el("ol", { id: "video-jobs" });
  const videoDrop = el("div", { class: "drop" },
    el("h3", { text: "Video" }),
    el("label", { for: "video-input", text: "Drop a video here or pick one: " }), videoInput, videoJobs);

  const hint = el("p", { id: "uploads-limits" });
  section.append(style, el("h2", { text: "Upload" }), hint, photoDrop, videoDrop);

  // -- helpers -----------------------------------------------------------------------
  function tooBig(file) {
    return limits && file.size > limits.max_mb * 1024 * 1024
      ? `${file.name} is larger than this server's limit of ${limits.max_mb} MB; choose a smaller file`
      : null;
  }

  // POST the file as multipart field "file"; onProgress(fraction) while it is sent; resolves {status, body}
  function send(path, file, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url(path));
      xhr.responseType = "json";
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = () => resolve({ status: xhr.status, body: xhr.response || {} });
      xhr.onerror = () => resolve({ status: 0, body: { error: "the upload failed: the connection closed" +
        (limits ? ` (is the file over ${limits.max_mb} MB?)` : "") } });
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }

  function link(path, label, name) {
    return el("a", { href: url(path, { download: "1" }), download: name, text: label });
  }

  function dropInto(zone, input, handle) {
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer.files.length) handle(e.dataTransfer.files[0]);
    });
    input.addEventListener("change", () => { if (input.files.length) handle(input.files[0]); input.value = ""; });
  }

  // -- photo flow --------------------------------------------------------------------
  async function uploadPhoto(file) {
    photoError.textContent = "";
    photoOut.hidden = true;
    const refused = tooBig(file);
    if (refused) { photoError.textContent = refused; return; }
    photoBusy.textContent = `sending ${file.name}…`;
    const { status, body } = await send("api/photo", file, (f) => {
      photoBusy.textContent = f < 1 ? `sending ${file.name}: ${Math.round(f * 100)}%` : "computing depth…";
    });
    photoBusy.textContent = "";
    if (status !== 200) {
      photoError.textContent = body.error || `the server answered ${status}`;
      return;
    }
    const files = body.files;
    photoResult.src = url(files["side-by-side.png"]);
    photoDepth.src = url(files["depth16.png"]);
    photoLinks.replaceChildren(
      link(files["side-by-side.png"], "side-by-side PNG", body.downloads["side-by-side.png"]),
      link(files["depth16.png"], "16-bit depth PNG", body.downloads["depth16.png"]),
      link(files["cloud.ply"], "point cloud (PLY)", body.downloads["cloud.ply"]),
      el("small", { text: `(each is deleted after its download, or after ${body.keep_minutes} minutes)` }));
    photoOut.hidden = false;
  }

  // -- video flow --------------------------------------------------------------------
  // The session's jobs ({id, name}, oldest first) live in sessionStorage: a reload of this tab
  // finds them again and GET api/jobs says where each one is now.
  const STORE = "depth-stream-video-jobs";
  const rows = new Map(); // job id -> row
  let polling = null;

  function remembered() {
    try { return JSON.parse(sessionStorage.getItem(STORE)) || []; } catch (error) { return []; }
  }

  function remember(list) { sessionStorage.setItem(STORE, JSON.stringify(list)); }

  function describe(job) {
    if (job.state === "queued") {
      return job.position > 0 ? `queued: position ${job.position} (waiting for ${job.position} video` +
        `${job.position > 1 ? "s" : ""} ahead)` : "queued: starting…";
    }
    if (job.state === "running") {
      return job.frames_total ? `processing: frame ${job.frames_done} of ${job.frames_total}` +
        ` (${Math.round(job.progress * 100)}%)` : `processing: frame ${job.frames_done}`;
    }
    if (job.state === "done") return `done: ${job.frames_done} frames`;
    if (job.state === "failed") return `failed: ${job.error}`;
    return "stopped: the server stopped before this video was finished";
  }

  function newRow(name) {
    const row = el("li", { class: "job", "data-state": "sending" },
      el("strong", { class: "job-name", text: name }),
      el("progress", { class: "job-progress", max: "1", value: "0", hidden: "" }),
      el("p", { class: "job-status", role: "status" }),
      el("p", { class: "job-links links" }));
    videoJobs.append(row);
    return row;
  }

  function setRow(row, state, text) {
    row.dataset.state = state;
    row.querySelector(".job-status").textContent = text;
  }

  function showJob(row, job) {
    setRow(row, job.state, describe(job));
    const bar = row.querySelector(".job-progress");
    if (job.progress !== null && job.progress !== undefined) {
      bar.hidden = false;
      bar.value = job.progress;
    }
    const links = row.querySelector(".job-links");
    if (job.url && !links.childElementCount) {
      const label = job.partial ? `download the ${job.frames_done} frames done before the failure (${job.download})`
        : `download ${job.download}`;
      links.replaceChildren(link(job.url, label, job.download),
        el("small", { text: ` (deleted after the download, or after ${job.keep_minutes} minutes)` }));
    }
  }

  function active(row) { return row.dataset.state === "queued" || row.dataset.state === "running"; }

  function gone(row) {
    setRow(row, "gone", "no longer on the server: results are deleted after their download, after " +
      `${limits ? limits.keep_minutes : "a few"} minutes, or when the server stops; upload the video again if you need it`);
  }

  // one request for every job: GET api/jobs, while any row is queued or running
  async function poll() {
    polling = null;
    if (window.depthConnection.gone) return;
    let body;
    try {
      const response = await fetch(url("api/jobs"), { cache: "no-store" });
      body = await response.json();
      if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
    } catch (error) {
      if (window.depthConnection.isNoAnswer(error)) { window.depthConnection.lost(); return; }
      schedule();
      return;
    }
    update(body.jobs);
    schedule();
  }

  function update(jobs) {
    const byId = new Map(jobs.map((job) => [job.id, job]));
    for (const [id, row] of rows) {
      const job = byId.get(id);
      if (job) showJob(row, job);
      else if (active(row)) gone(row);
    }
  }

  function schedule() {
    if (!polling && [...rows.values()].some(active)) polling = setTimeout(poll, POLL_MS);
  }

  async function uploadVideo(file) {
    const row = newRow(file.name);
    const refused = tooBig(file);
    if (refused) { setRow(row, "refused", refused); return; }
    setRow(row, "sending", `sending ${file.name}…`);
    const { status, body } = await send("api/video", file, (f) => {
      if (row.dataset.state === "sending") row.querySelector(".job-status").textContent = `sending: ${Math.round(f * 100)}%`;
    });
    if (status !== 202) {
      if (window.depthConnection.gone) setRow(row, "stopped", "stopped: the server stopped before this video had arrived");
      else setRow(row, "refused", body.error || `the server answered ${status}`);
      return;
    }
    row.dataset.id = body.id;
    rows.set(body.id, row);
    remember([...remembered(), { id: body.id, name: file.name }]);
    showJob(row, body);
    schedule();
  }

  // this tab's earlier uploads, as the server has them now (those it no longer has are said so once, then forgotten)
  function restore(jobs) {
    const byId = new Map(jobs.map((job) => [job.id, job]));
    const kept = [];
    for (const { id, name } of remembered()) {
      const row = newRow(name);
      const job = byId.get(id);
      if (!job) { gone(row); continue; }
      row.dataset.id = id;
      rows.set(id, row);
      kept.push({ id, name });
      showJob(row, job);
    }
    remember(kept);
    schedule();
  }

  window.depthConnection.onLost(() => {
    if (polling) clearTimeout(polling);
    polling = null;
    for (const row of rows.values()) {
      if (active(row)) setRow(row, "stopped", describe({ state: "stopped" }));
    }
  });

  dropInto(photoDrop, photoInput, uploadPhoto);
  dropInto(videoDrop, videoInput, uploadVideo);

  fetch(url("api/jobs"), { cache: "no-store" }).then((r) => (r.ok ? r.json() : null)).then((body) => {
    if (!body) return;
    limits = body;
    hint.textContent = `Photos (JPEG, PNG, WebP, BMP, TIFF) and videos up to ${body.max_mb} MB. ` +
      `Results are deleted after their download or after ${body.keep_minutes} minutes; ` +
      "videos are processed one at a time, every frame, with their sound.";
    restore(body.jobs || []);
  }).catch((error) => { if (window.depthConnection.isNoAnswer(error)) window.depthConnection.lost(); });
})();
