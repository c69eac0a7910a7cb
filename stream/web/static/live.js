// The live page: frames over a WebSocket (one in flight: "next" is sent once a frame is shown),
// counters polled as JSON, controls posted as JSON, and optionally this device's camera as the source.
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

  function connectLive() {
    const ws = new WebSocket(socketUrl('ws/live'));
    let refused = null;
    ws.binaryType = 'blob';
    ws.onopen = () => { retryMs = 1000; ws.send('next'); };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') {
        const note = JSON.parse(event.data);
        if (note.error) { refused = note.error; say(note.error, true); }
        return;
      }
      const url = URL.createObjectURL(event.data);
      const shown = () => {
        if (view.naturalWidth) shownSize = [view.naturalWidth, view.naturalHeight];
        if (shownUrl) URL.revokeObjectURL(shownUrl);
        shownUrl = url;
        frames += 1;
        view.dataset.frames = String(frames);
        if (ws.readyState === WebSocket.OPEN) ws.send('next');
      };
      view.onload = shown;
      view.onerror = shown;
      view.src = url;
    };
    ws.onclose = (event) => {
      if (!refused) say(event.code === 1001 ? 'the server has stopped' : 'connection lost; reconnecting…', true);
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
    if (status.source) { cameraSize = [status.source.width, status.source.height]; }
  }

  async function refresh() {
    try {
      showStatus(await call('api/status'));
      if ($('message').classList.contains('error') && $('message').dataset.sticky !== '1' && frames > 0) say('');
    } catch (error) {
      say(error.message, true);
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

  // -- this device's camera as the source (one frame in flight: the next goes once the server took this one) --
  let cameraSize = [640, 480];
  let cameraStream = null;
  let cameraSocket = null;
  let sent = 0;

  function cameraSay(text, isError = false) {
    const box = $('camera-status');
    box.textContent = text;
    box.classList.toggle('error', isError);
  }

  function stopCamera() {
    if (cameraSocket) cameraSocket.close();
    if (cameraStream) cameraStream.getTracks().forEach((track) => track.stop());
    cameraSocket = null;
    cameraStream = null;
    $('camera-start').disabled = false;
    $('camera-stop').disabled = true;
  }

  function sendFrame(video, canvas) {
    if (!cameraSocket || cameraSocket.readyState !== WebSocket.OPEN) return;
    if (!video.videoWidth) { setTimeout(() => sendFrame(video, canvas), 50); return; }
    const [w, h] = cameraSize;
    const scale = Math.max(w / video.videoWidth, h / video.videoHeight);
    const cropW = w / scale;
    const cropH = h / scale;
    canvas.getContext('2d').drawImage(video, (video.videoWidth - cropW) / 2, (video.videoHeight - cropH) / 2, cropW, cropH, 0, 0, w, h);
    canvas.toBlob((blob) => {
      if (blob && cameraSocket && cameraSocket.readyState === WebSocket.OPEN) cameraSocket.send(blob);
    }, 'image/jpeg', 0.85);
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraSay('this browser allows the camera only on a secure page: open it as https:// (--serve-cert/--serve-key) '
        + 'or as http://127.0.0.1 through an SSH tunnel (README "Browser")', true);
      return;
    }
    const [w, h] = cameraSize;
    try {
      cameraStream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: w }, height: { ideal: h } }, audio: false });
    } catch (error) {
      const why = error.name === 'NotAllowedError' ? 'camera permission denied: allow the camera for this page (address bar) and press Start again'
        : error.name === 'NotFoundError' ? 'no camera found on this device' : `the camera did not start: ${error.message}`;
      cameraSay(why, true);
      return;
    }
    const video = $('camera-preview');
    video.srcObject = cameraStream;
    await video.play().catch(() => {});
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = cameraSize;
    cameraSocket = new WebSocket(socketUrl('ws/camera'));
    cameraSocket.onopen = () => { sent = 0; cameraSay('sending…'); sendFrame(video, canvas); };
    cameraSocket.onmessage = (event) => {
      const note = JSON.parse(event.data);
      if (note.error) { cameraSay(note.error, true); stopCamera(); return; }
      if (note.ack) {
        sent += 1;
        cameraSay(`sending: ${sent} frames taken${note.note ? ` (last: ${note.note})` : ''}`);
        sendFrame(video, canvas);
      }
    };
    cameraSocket.onclose = () => { if (cameraStream) { cameraSay('the server closed the camera connection', true); stopCamera(); } };
    $('camera-start').disabled = true;
    $('camera-stop').disabled = false;
  }

  $('camera-start').addEventListener('click', startCamera);
  $('camera-stop').addEventListener('click', () => { stopCamera(); cameraSay('stopped'); });

  connectLive();
  refresh();
  setInterval(refresh, 500);
})();
