// The live page: frames over a WebSocket (one in flight: "next" is sent once a frame is shown;
// "next plain" on a narrow screen, where the counters beside the picture replace its overlay),
// counters polled as JSON, controls posted as JSON, and optionally this device's camera as the source.
// Until the first frame the picture area says what to do (or why there is none), never a broken image.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get('token');
  const withToken = (path) => token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;
  const base = location.pathname.replace(/[^/]*$/, '');
  const socketUrl = (path) => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${base}${withToken(path)}`;

  function say(text, isError = false) {
    const box = $('message');
    box.textContent = text;
    box.classList.toggle('error', isError);
  }

  async function call(path, body) {
    const response = await fetch(withToken(path), {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  }

  // -- the live picture ------------------------------------------------------------------
  const view = $('view');
  let shownUrl = null;
  // the size of the last frame shown: while the next one loads the image may report 0 x 0,
  // and a click then must still land on the frame the user sees
  let shownSize = null;
  let frames = 0;
  let retryMs = 1000;

  const connection = window.depthConnection;
  const narrow = window.matchMedia('(max-width: 700px)');
  const ask = () => (narrow.matches ? 'next plain' : 'next');
  let liveSocket = null;
  let liveRefused = null; // why the server sends this page no picture (too many viewers)

  // what the picture area says while there is no picture: what to do, or why
  function placeholder(text, withCamera = false) {
    const box = $('view-placeholder');
    box.hidden = frames > 0;
    $('view-placeholder-text').textContent = text;
    $('view-start-camera').hidden = !withCamera;
  }

  function waitingText() {
    return cameraSource && !cameraStream
      ? "This server's source is this device's camera: press Start camera to send its picture."
      : 'Waiting for the first picture from the server…';
  }

  function connectLive() {
    if (connection.gone) return;
    const ws = liveSocket = new WebSocket(socketUrl('ws/live'));
    let refused = null;
    ws.binaryType = 'blob';
    ws.onopen = () => { retryMs = 1000; ws.send(ask()); };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') {
        const note = JSON.parse(event.data);
        if (note.error) {
          refused = liveRefused = note.error;
          say(note.error, true);
          placeholder(`No picture for this page: ${note.error}. This page tries again every 10 s.`);
        }
        return;
      }
      const url = URL.createObjectURL(event.data);
      const shown = () => {
        if (view.naturalWidth) shownSize = [view.naturalWidth, view.naturalHeight];
        if (shownUrl) URL.revokeObjectURL(shownUrl);
        shownUrl = url;
        frames += 1;
        view.dataset.frames = String(frames);
        view.hidden = false;
        liveRefused = null;
        $('view-placeholder').hidden = true;
        if (ws.readyState === WebSocket.OPEN) ws.send(ask());
      };
      view.onload = shown;
      view.onerror = shown;
      view.src = url;
    };
    ws.onclose = (event) => {
      if (connection.gone) return;
      if (event.code === 1001) { connection.lost(); return; }  // "going away": the server is stopping
      if (!refused) say('connection lost; reconnecting…', true);
      const wait = refused ? 10000 : retryMs;
      retryMs = Math.min(retryMs * 2, 10000);
      setTimeout(connectLive, wait);
    };
  }

  view.addEventListener('click', async (event) => {
    if (!shownSize) return;
    const [width, height] = shownSize;
    const box = view.getBoundingClientRect();
    const x = Math.floor((event.clientX - box.left) * width / box.width);
    const y = Math.floor((event.clientY - box.top) * height / box.height);
    try { await call('api/probe', { x, y }); refresh(); } catch (error) { say(error.message, true); }
  });

  // -- counters, probes, controls ------------------------------------------------------------
  const fmt = (value, unit) => (value === null || value === undefined ? '–' : `${value}${unit}`);
  let controlsFilled = false;

  function fillSelect(select, choices, value) {
    if (select.options.length !== choices.length) {
      select.replaceChildren(...choices.map((name) => new Option(name, name)));
    }
    if (document.activeElement !== select) select.value = value;
  }

  function showStatus(status) {
    const c = status.counters || {};
    $('capture-fps').textContent = fmt(c.capture_fps, ' fps');
    $('depth-fps').textContent = fmt(c.depth_fps, ' fps');
    $('dropped').textContent = fmt(c.dropped, '');
    $('latency').textContent = fmt(c.latency_ms === null || c.latency_ms === undefined ? null : Math.round(c.latency_ms), ' ms');
    $('viewers').textContent = `${status.viewers} of ${status.max_viewers}`;
    $('source').textContent = status.source ? status.source.description : '–';
    $('model').textContent = status.model ? status.model.description + (status.model.licence ? `, ${status.model.licence}` : '') : '–';
    if (status.models && $('models').childElementCount !== status.models.length) {
      $('models').replaceChildren(...status.models.map((m) => {
        const item = document.createElement('li');
        item.textContent = `${m.name}: ${m.title}, ${m.licence}; ${m.meaning}`;
        return item;
      }));
    }
    fillSelect($('colormap'), status.choices.colormap, status.view.colormap);
    fillSelect($('normalize'), status.choices.normalize, status.view.normalize);
    if (!controlsFilled || document.activeElement !== $('overlay')) $('overlay').checked = status.view.overlay;
    controlsFilled = true;
    $('probes').replaceChildren(...status.probes.map((p) => {
      const item = document.createElement('li');
      item.className = 'probe';
      item.textContent = p.norm === null ? `(${p.x}, ${p.y}) outside this frame`
        : p.unit === 'm' ? `(${p.x}, ${p.y}) depth ${Number(p.raw).toFixed(2)} m`
          : `(${p.x}, ${p.y}) depth ${p.norm.toFixed(3)} raw ${Number(p.raw).toPrecision(4)}`;
      return item;
    }));
    const camera = $('camera');
    camera.hidden = !status.browser_camera;
    cameraSource = status.browser_camera;
    if (status.source) { cameraSize = [status.source.width, status.source.height]; }
    if (!frames && !liveRefused) placeholder(waitingText(), cameraSource && !cameraStream);
  }

  async function refresh() {
    if (connection.gone) return;
    try {
      showStatus(await call('api/status'));
      if ($('message').classList.contains('error') && $('message').dataset.sticky !== '1' && frames > 0) say('');
    } catch (error) {
      if (connection.isNoAnswer(error)) connection.lost();
      else if (!connection.gone) say(error.message, true);
    }
  }

  async function setView(change) {
    try { await call('api/view', change); } catch (error) { say(error.message, true); }
    refresh();
  }

  $('colormap').addEventListener('change', (e) => setView({ colormap: e.target.value }));
  $('normalize').addEventListener('change', (e) => setView({ normalize: e.target.value }));
  $('overlay').addEventListener('change', (e) => setView({ overlay: e.target.checked }));
  $('clear-probes').addEventListener('click', async () => {
    try { await call('api/probes/clear', {}); } catch (error) { say(error.message, true); }
    refresh();
  });
  $('snapshot').href = withToken('api/snapshot.png');

  // -- this device's camera as the source ------------------------------------------------------
  // A frame is sent only when both hold: the server took the previous one (one in flight, nothing
  // queues) and the camera has produced a new one since (requestVideoFrameCallback; without it, at
  // most the track's frame rate), so the server never gets a frame twice nor more than the camera makes.
  let cameraSize = [640, 480];
  let cameraSource = false;
  let cameraStream = null;
  let cameraSocket = null;
  let sent = 0;
  let serverReady = false; // the server took the last frame sent (or none was sent yet)
  let freshFrame = false; // the camera has a frame not sent yet
  let frameTimer = null;

  function cameraSay(text, isError = false) {
    const box = $('camera-status');
    box.textContent = text;
    box.classList.toggle('error', isError);
  }

  function stopCamera() {
    if (cameraSocket) cameraSocket.close();
    if (cameraStream) cameraStream.getTracks().forEach((track) => track.stop());
    if (frameTimer) clearInterval(frameTimer);
    frameTimer = null;
    cameraSocket = null;
    cameraStream = null;
    $('camera-start').disabled = false;
    $('camera-stop').disabled = true;
  }

  function sendFrame(video, canvas) {
    if (!serverReady || !freshFrame || !video.videoWidth) return;
    if (!cameraSocket || cameraSocket.readyState !== WebSocket.OPEN) return;
    serverReady = false;
    freshFrame = false;
    const [w, h] = cameraSize;
    const scale = Math.max(w / video.videoWidth, h / video.videoHeight);
    const cropW = w / scale;
    const cropH = h / scale;
    canvas.getContext('2d').drawImage(video, (video.videoWidth - cropW) / 2, (video.videoHeight - cropH) / 2, cropW, cropH, 0, 0, w, h);
    canvas.toBlob((blob) => {
      if (blob && cameraSocket && cameraSocket.readyState === WebSocket.OPEN) cameraSocket.send(blob);
      else serverReady = true;
    }, 'image/jpeg', 0.85);
  }

  // marks each new camera frame and sends it if the server is ready for one
  function watchFrames(video, canvas, stream) {
    const fresh = () => { freshFrame = true; sendFrame(video, canvas); };
    if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
      const onFrame = () => {
        if (cameraStream !== stream) return;
        fresh();
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    } else {
      const fps = stream.getVideoTracks()[0].getSettings().frameRate || 15;
      frameTimer = setInterval(fresh, 1000 / fps);
    }
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraSay('this browser allows the camera only on a secure page: open it as https:// (--serve-cert/--serve-key) '
        + 'or as http://127.0.0.1 through an SSH tunnel (README "Browser")', true);
      return;
    }
    const [w, h] = cameraSize;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: w }, height: { ideal: h } }, audio: false });
    } catch (error) {
      const why = error.name === 'NotAllowedError' ? 'camera permission denied: allow the camera for this page (address bar) and press Start again'
        : error.name === 'NotFoundError' ? 'no camera found on this device' : `the camera did not start: ${error.message}`;
      cameraSay(why, true);
      if (!frames) placeholder(`The camera did not start: ${why}.`, true);
      return;
    }
    cameraStream = stream;
    if (!frames) placeholder('Camera started: waiting for the first depth picture…');
    const video = $('camera-preview');
    video.srcObject = stream;
    await video.play().catch(() => {});
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = cameraSize;
    cameraSocket = new WebSocket(socketUrl('ws/camera'));
    cameraSocket.onopen = () => { sent = 0; serverReady = true; cameraSay('sending…'); sendFrame(video, canvas); };
    cameraSocket.onmessage = (event) => {
      const note = JSON.parse(event.data);
      if (note.error) { cameraSay(note.error, true); stopCamera(); return; }
      if (note.ack) {
        sent += 1;
        cameraSay(`sending: ${sent} frames taken${note.note ? ` (last: ${note.note})` : ''}`);
        serverReady = true;
        sendFrame(video, canvas);
      }
    };
    cameraSocket.onclose = () => { if (cameraStream) { cameraSay('the server closed the camera connection', true); stopCamera(); } };
    watchFrames(video, canvas, stream);
    $('camera-start').disabled = true;
    $('camera-stop').disabled = false;
  }

  $('camera-start').addEventListener('click', startCamera);
  $('view-start-camera').addEventListener('click', startCamera);
  $('camera-stop').addEventListener('click', () => { stopCamera(); cameraSay('stopped'); });

  view.hidden = true; // no picture yet: the placeholder speaks instead of a broken image
  placeholder(waitingText());
  connectLive();
  refresh();
  const refreshing = setInterval(refresh, 500);
  connection.onLost(() => {
    clearInterval(refreshing);
    if (liveSocket) liveSocket.close();
    stopCamera();
    if (!frames) placeholder('The server has stopped.');
  });
})();
