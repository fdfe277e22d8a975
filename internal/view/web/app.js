// framecast live dashboard: one WebSocket for every camera (see
// internal/view/protocol.go), frames drawn on canvases with the boxes and
// labels of their results, charts drawn by hand. No library, no network
// access beyond the dashboard itself.
'use strict';
(() => {
  const EMOTIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
  // The same colours as the server-side annotations (internal/annotate).
  const COLORS = {
    angry: '#e63946', disgust: '#6a994e', fear: '#9b5de5', happy: '#ffd166',
    sad: '#457b9d', surprise: '#f77f00', neutral: '#c8c8c8',
  };
  const STALE_MS = 3000; // a camera without a frame for this long says "no signal"
  const GONE_MS = 10000; // a camera the server forgot, silent for this long, leaves the page
  const RESULTS_KEPT = 64; // per camera, to match frames with their results

  // Camera ids and emotions come from Kafka records: never use them as keys
  // of an ordinary object ("__proto__", "constructor"), never as HTML.
  const own = (o, k) => (o && Object.hasOwn(o, k) ? o[k] : undefined);
  const colorOf = (e) => own(COLORS, e) || COLORS.neutral;

  // Everything the page shows, readable by tests and curious people:
  // window.__framecast.cams[id] tells which frame and which result's boxes
  // are on screen (an object without a prototype: any id is a plain key).
  // mode: 'matched' (default) shows each camera slightly behind live, every
  // frame with its own result (the server holds frames until it comes);
  // 'live' shows the newest frame with the newest result close to it.
  const state = window.__framecast = {
    connected: false, connections: 0, messages: 0, frames: 0, results: 0, ignored: 0,
    paused: false, overlays: true, mode: 'matched', stalls: [], cams: Object.create(null), charts: { draws: 0, stats: 0, points: 0, emotionTotal: 0 },
    hello: null,
  };

  let emotions = EMOTIONS;
  let overlayMaxAge = 1000;
  let historyS = 300;
  let points = [];
  let lastStats = null;
  const cams = new Map();
  const collator = new Intl.Collator(undefined, { numeric: true });
  const textDecoder = new TextDecoder();

  const $ = (id) => document.getElementById(id);
  const grid = $('grid');

  // ---------- cameras ----------

  function camFor(id) {
    let cam = cams.get(id);
    if (cam) return cam;
    const el = document.createElement('article');
    el.className = 'tile';
    el.dataset.camera = id;
    const video = document.createElement('div');
    video.className = 'video';
    const canvas = document.createElement('canvas');
    canvas.width = 320; canvas.height = 240;
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'no signal';
    const delay = document.createElement('span');
    delay.className = 'delay';
    const stall = document.createElement('span');
    stall.className = 'stall';
    video.append(canvas, badge, delay, stall);
    const meta = document.createElement('div');
    meta.className = 'meta';
    const name = document.createElement('b');
    name.className = 'name';
    name.textContent = id;
    name.title = id;
    const stats = document.createElement('span');
    stats.className = 'stats';
    stats.textContent = '…';
    meta.append(name, stats);
    const emo = document.createElement('canvas');
    emo.className = 'emo';
    el.append(video, meta, emo);
    el.addEventListener('click', () => enlarge(el));

    // Tiles stay sorted by camera id (demo-2 before demo-10).
    let before = null;
    for (const other of grid.children) {
      if (collator.compare(other.dataset.camera, id) > 0) { before = other; break; }
    }
    grid.insertBefore(el, before);
    $('empty').hidden = true;

    cam = {
      id, el, canvas, g: canvas.getContext('2d'), statsEl: stats, emoCanvas: emo, badge, delayEl: delay, stallEl: stall,
      bitmap: null, frame: null, pending: null, decoding: false,
      results: new Map(), order: [], clientDropped: 0, decodeErrors: 0, seen: performance.now(),
    };
    cams.set(id, cam);
    state.cams[id] = {
      frameSeq: -1, frameCaptured: 0, framesShown: 0, drawnSeq: -1, drawnCaptured: 0,
      boxes: [], overlay: state.overlays, clientDropped: 0, width: 0, height: 0,
      mode: state.mode, played: false, delayMs: 0, matched: false, faces: 0, stalled: false, stall: null,
    };
    return cam;
  }

  function enlarge(el) {
    const big = !el.classList.contains('big');
    for (const t of grid.querySelectorAll('.tile.big')) t.classList.remove('big');
    if (big) {
      el.classList.add('big');
      el.scrollIntoView({ block: 'nearest' });
    }
  }

  // ---------- frames ----------

  // Binary messages: 1 = a live frame, 2 = a frame played with its own
  // result (matched mode); each mode draws only its own kind.
  function onFrame(buf) {
    const dv = new DataView(buf);
    if (buf.byteLength < 2) return;
    const type = dv.getUint8(0);
    if (type !== 1 && type !== 2) return;
    if (type !== (state.mode === 'live' ? 1 : 2)) { state.ignored++; return; }
    const n = dv.getUint8(1);
    if (buf.byteLength < (type === 1 ? 22 : 30) + n) return;
    const id = textDecoder.decode(new Uint8Array(buf, 2, n));
    const f = {
      seq: Number(dv.getBigUint64(2 + n)),
      ts: dv.getFloat64(10 + n),
      w: dv.getUint16(18 + n),
      h: dv.getUint16(20 + n),
      played: type === 2, result: null, delay: 0,
    };
    if (type === 1) {
      f.jpeg = new Uint8Array(buf, 22 + n);
    } else {
      f.delay = dv.getUint32(22 + n);
      const rl = dv.getUint32(26 + n);
      if (buf.byteLength < 30 + n + rl) return;
      if (rl) {
        try { f.result = JSON.parse(textDecoder.decode(new Uint8Array(buf, 30 + n, rl))); } catch (e) { return; }
      }
      f.jpeg = new Uint8Array(buf, 30 + n + rl);
    }
    state.frames++;
    const cam = camFor(id);
    cam.seen = performance.now();
    // Latest only: a frame not yet decoded is replaced, never queued.
    if (cam.pending) {
      cam.clientDropped++;
      state.cams[id].clientDropped = cam.clientDropped;
    }
    cam.pending = f;
    if (!cam.decoding && !state.paused) decodeLoop(cam);
  }

  async function decodeLoop(cam) {
    cam.decoding = true;
    try {
      while (cam.pending && !state.paused) {
        const f = cam.pending;
        cam.pending = null;
        let bmp;
        try {
          bmp = await createImageBitmap(new Blob([f.jpeg], { type: 'image/jpeg' }));
        } catch (e) {
          cam.decodeErrors++;
          continue;
        }
        if (cams.get(cam.id) !== cam) { bmp.close(); break; } // the tile left meanwhile
        if (cam.bitmap) cam.bitmap.close();
        cam.bitmap = bmp;
        cam.frame = f;
        state.cams[cam.id].framesShown++;
        draw(cam);
      }
    } finally {
      cam.decoding = false;
    }
  }

  // ---------- results and overlays ----------

  function onResults(list) {
    for (const r of list) {
      state.results++;
      const cam = camFor(r.c);
      cam.seen = performance.now();
      if (!cam.results.has(r.s)) cam.order.push(r.s);
      cam.results.set(r.s, r);
      while (cam.order.length > RESULTS_KEPT) cam.results.delete(cam.order.shift());
      // Live mode: a result usually comes 20–100 ms after its frame:
      // redraw the frame on screen with it. Played frames carry theirs.
      if (cam.frame && !cam.frame.played && !state.paused) draw(cam);
    }
  }

  // pickResult: the result of the frame itself, else the newest result at
  // most overlayMaxAge away from the frame's capture; skipped (stale)
  // frames have no boxes of their own.
  function pickResult(cam, f) {
    const own = cam.results.get(f.seq);
    if (own && own.st === 'ok') return own;
    let best = null;
    for (const r of cam.results.values()) {
      if (r.st !== 'ok' || Math.abs(f.ts - r.ts) > overlayMaxAge) continue;
      if (!best || r.ts > best.ts) best = r;
    }
    return best;
  }

  function draw(cam) {
    const f = cam.frame, bmp = cam.bitmap;
    if (!f || !bmp || cams.get(cam.id) !== cam) return;
    const c = cam.canvas, g = cam.g;
    if (c.width !== bmp.width || c.height !== bmp.height) {
      c.width = bmp.width;
      c.height = bmp.height;
    }
    g.drawImage(bmp, 0, 0);
    const s = state.cams[cam.id];
    s.frameSeq = f.seq;
    s.frameCaptured = f.ts;
    s.width = bmp.width;
    s.height = bmp.height;
    s.overlay = state.overlays;
    s.mode = state.mode;
    s.played = f.played;
    s.delayMs = f.delay;
    // A played frame is drawn with its own result only (none: it never
    // came); a live frame with the closest one (pickResult).
    const own = f.played ? (f.result && f.result.st === 'ok' ? f.result : null) : pickResult(cam, f);
    s.matched = !!own && own.s === f.seq;
    s.faces = own ? own.f.length : 0;
    cam.delayEl.textContent = f.played ? `−${(f.delay / 1000).toFixed(1)} s${f.result ? '' : ' · no result'}` : 'live';
    cam.delayEl.title = f.played
      ? `shown ${f.delay} ms behind live, with ${f.result ? 'its own result' : 'no result (it did not come in time)'}`
      : 'the newest frame, with the result closest to it';
    const r = state.overlays ? own : null;
    s.drawnSeq = r ? r.s : -1;
    s.drawnCaptured = r ? r.ts : 0;
    s.boxes = [];
    if (!r) return;
    // Boxes are in the result's frame pixels; the bitmap is the same
    // frame, but scale anyway in case a result names another size.
    const sx = r.w ? bmp.width / r.w : 1, sy = r.h ? bmp.height / r.h : 1;
    const short = Math.min(bmp.width, bmp.height);
    const thick = Math.max(2, Math.round(short / 240));
    const fontPx = Math.max(12, Math.round(short / 32));
    g.font = `bold ${fontPx}px system-ui, sans-serif`;
    g.textBaseline = 'top';
    for (const face of r.f) {
      const x = face.x * sx, y = face.y * sy, w = face.w * sx, h = face.h * sy;
      const color = colorOf(face.e);
      g.lineWidth = thick + 2;
      g.strokeStyle = '#000';
      g.strokeRect(x - 0.5, y - 0.5, w + 1, h + 1);
      g.lineWidth = thick;
      g.strokeStyle = color;
      g.strokeRect(x, y, w, h);
      // The track id lets a viewer follow one person's emotion over time.
      const label = `${face.id ? '#' + face.id + ' ' : ''}${face.e} ${Math.round(face.p * 100)}%`;
      const tw = Math.ceil(g.measureText(label).width) + 2 * thick;
      const th = fontPx + 2 * thick;
      let ly = y - th - 1;
      if (ly < 0) ly = y + thick;
      let lx = Math.min(Math.max(0, x), bmp.width - tw);
      g.fillStyle = '#000';
      g.fillRect(lx - 1, ly - 1, tw + 2, th + 2);
      g.fillStyle = color;
      g.fillRect(lx, ly, tw, th);
      g.fillStyle = luminance(color) > 0.5 ? '#000' : '#fff';
      g.fillText(label, lx + thick, ly + thick);
      s.boxes.push({ x: face.x, y: face.y, w: face.w, h: face.h, emotion: face.e, label });
    }
  }

  function luminance(hex) {
    const v = parseInt(hex.slice(1), 16);
    return (0.299 * (v >> 16) + 0.587 * ((v >> 8) & 255) + 0.114 * (v & 255)) / 255;
  }

  // ---------- statistics and charts ----------

  function onStats(m) {
    lastStats = m;
    state.charts.stats++;
    const dropped = m.ws_dropped || {};
    const listed = m.cams || {};
    for (const [id, st] of Object.entries(listed)) {
      const cam = camFor(id);
      const serverDropped = own(dropped, id) || 0;
      const drops = st.gaps + serverDropped + cam.clientDropped;
      const faces = state.cams[id].faces; // as on screen
      cam.statsEl.textContent =
        `${st.fps.toFixed(1)} fps · ${Math.round(st.p50)} ms · ${faces} face${faces === 1 ? '' : 's'} · ${drops} drop${drops === 1 ? '' : 's'}`;
      cam.statsEl.title = `frames ${st.frames}, results ${st.results}, skipped (stale) ${st.skipped}\n` +
        `dropped: ${st.gaps} upstream (sequence gaps), ${serverDropped} by the server for this page, ${cam.clientDropped} by this browser\n` +
        `latency p50 ${st.p50} ms, p99 ${st.p99} ms`;
      const stall = st.stall || null;
      cam.el.classList.toggle('stalled', !!stall);
      cam.el.classList.toggle('stale', !stall && st.age_ms > STALE_MS);
      cam.badge.textContent = stall ? 'STALLED' : 'no signal';
      cam.stallEl.textContent = stall ? stallText(stall) : '';
      Object.assign(state.cams[id], { fps: st.fps, p50: st.p50, drops, stalled: !!stall, stall });
      drawEmotionStrip(cam.emoCanvas, st.emo);
    }
    // The server forgets cameras idle for long (or evicted at its cap):
    // their tiles go too, once silent here as well.
    const now = performance.now();
    for (const [id, cam] of cams) {
      if (Object.hasOwn(listed, id) || now - cam.seen < GONE_MS) continue;
      if (cam.bitmap) cam.bitmap.close();
      cam.el.remove();
      cams.delete(id);
      delete state.cams[id];
    }
    $('empty').hidden = cams.size > 0;
    state.stalls = m.stalls || [];
    const banner = $('stalls');
    banner.hidden = !state.stalls.length;
    banner.textContent = state.stalls.length ? `STALLED: ${state.stalls.map(stallText).join(' · ')}` : '';
    const a = m.all;
    $('summary').textContent = `${Object.keys(m.cams || {}).length} cameras · ${a.fps.toFixed(1)} frames/s · ` +
      `${a.rps.toFixed(1)} results/s · p50 ${Math.round(a.p50)} ms`;
    if (m.pt && (!points.length || m.pt.t > points[points.length - 1].t)) points.push(m.pt);
    trimPoints(m.now / 1000);
    drawCharts();
  }

  // stallText names a stalled partition: what the reader waits on and why.
  function stallText(h) {
    return `${h.topic} partition ${h.partition} stuck at offset ${h.offset}, ${h.lag} record${h.lag === 1 ? '' : 's'} behind ` +
      `for ${Math.round(h.stalled_ms / 1000)} s${h.err ? `: ${h.err}` : ''}`;
  }

  function trimPoints(nowS) {
    while (points.length && points[0].t < nowS - historyS) points.shift();
  }

  function setup(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(100, Math.round(canvas.clientWidth));
    const h = Math.max(6, Math.round(canvas.clientHeight));
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    return [g, w, h];
  }

  function drawEmotionStrip(canvas, counts) {
    const [g, w, h] = setup(canvas);
    const total = counts.reduce((a, b) => a + b, 0);
    g.fillStyle = '#2c333b';
    g.fillRect(0, 0, w, h);
    if (!total) return;
    let x = 0;
    counts.forEach((n, i) => {
      const cw = (n / total) * w;
      g.fillStyle = colorOf(emotions[i]);
      g.fillRect(x, 0, cw, h);
      x += cw;
    });
  }

  function drawCharts() {
    if (!lastStats) return;
    drawEmotions();
    const now = lastStats.now / 1000;
    lineChart($('chart-throughput'), now, [
      { key: 'fps', label: 'frames/s', color: '#4cc9f0' },
      { key: 'rps', label: 'results/s', color: '#ffd166' },
    ]);
    lineChart($('chart-latency'), now, [
      { key: 'p50', label: 'p50', color: '#80ed99' },
      { key: 'p99', label: 'p99', color: '#e63946' },
      { key: 'vp50', label: 'p50 to this dashboard', color: '#9b5de5' },
    ]);
    state.charts.draws++;
    state.charts.points = points.length;
  }

  function drawEmotions() {
    const canvas = $('chart-emotions');
    const rows = [{ label: 'all cameras', counts: lastStats.all.emo }];
    for (const id of Object.keys(lastStats.cams).sort(collator.compare)) {
      rows.push({ label: id, counts: lastStats.cams[id].emo });
    }
    // One bar a camera: the canvas grows with the cameras, up to a point.
    const want = `${Math.max(60, Math.min(480, rows.length * 22 + 4))}px`;
    if (canvas.style.height !== want) canvas.style.height = want;
    const [g, w, h] = setup(canvas);
    const labelW = Math.min(140, w * 0.3), countW = 56;
    const rowH = Math.max(8, Math.min(22, (h - 4) / rows.length));
    g.font = `${Math.min(12, rowH - 2)}px system-ui, sans-serif`;
    g.textBaseline = 'middle';
    state.charts.emotionTotal = lastStats.all.emo.reduce((a, b) => a + b, 0);
    rows.forEach((row, k) => {
      const y = 2 + k * rowH;
      const total = row.counts.reduce((a, b) => a + b, 0);
      g.fillStyle = k === 0 ? '#e6e9ec' : '#98a2ad';
      g.fillText(ellipsis(g, row.label, labelW - 6), 0, y + rowH / 2);
      const bw = w - labelW - countW;
      g.fillStyle = '#2c333b';
      g.fillRect(labelW, y + 2, bw, rowH - 4);
      let x = labelW;
      if (total) {
        row.counts.forEach((n, i) => {
          const cw = (n / total) * bw;
          g.fillStyle = colorOf(emotions[i]);
          g.fillRect(x, y + 2, cw, rowH - 4);
          x += cw;
        });
      }
      g.fillStyle = '#98a2ad';
      g.fillText(total ? `${total}` : '–', labelW + bw + 6, y + rowH / 2);
    });
  }

  function ellipsis(g, text, max) {
    if (g.measureText(text).width <= max) return text;
    while (text.length > 1 && g.measureText(text + '…').width > max) text = text.slice(0, -1);
    return text + '…';
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function lineChart(canvas, now, series) {
    const [g, w, h] = setup(canvas);
    let legendX = 44 + 4;
    const left = 44, right = 8, top = 18, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    const t0 = now - historyS;
    let vmax = 0;
    for (const p of points) for (const s of series) vmax = Math.max(vmax, p[s.key] || 0);
    vmax = niceMax(vmax * 1.1);
    g.font = '11px system-ui, sans-serif';
    g.strokeStyle = '#2c333b';
    g.fillStyle = '#98a2ad';
    g.lineWidth = 1;
    g.textBaseline = 'middle';
    g.textAlign = 'right';
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (i / 4) * ph;
      g.beginPath();
      g.moveTo(left, Math.round(y) + 0.5);
      g.lineTo(left + pw, Math.round(y) + 0.5);
      g.stroke();
      g.fillText(fmt(vmax * i / 4), left - 4, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (let m = 0; m <= historyS / 60; m++) {
      const x = left + pw - (m * 60 / historyS) * pw;
      g.fillText(m === 0 ? 'now' : `-${m}m`, x, top + ph + 4);
    }
    const xOf = (t) => left + ((t - t0) / historyS) * pw;
    const yOf = (v) => top + ph - (v / vmax) * ph;
    series.forEach((s) => {
      g.strokeStyle = s.color;
      g.lineWidth = 1.5;
      g.beginPath();
      let prevT = null;
      for (const p of points) {
        if (p.t < t0) continue;
        const x = xOf(p.t + 1), y = yOf(p[s.key] || 0);
        if (prevT === null || p.t - prevT > 2) g.moveTo(x, y); else g.lineTo(x, y);
        prevT = p.t;
      }
      g.stroke();
      g.fillStyle = s.color;
      g.textAlign = 'left';
      g.fillText(s.label, legendX, 2);
      legendX += g.measureText(s.label).width + 16;
    });
    g.textAlign = 'left';
  }

  function fmt(v) {
    return v >= 100 ? Math.round(v).toString() : v >= 10 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '');
  }

  function legend() {
    const el = $('legend');
    el.textContent = '';
    for (const e of emotions) {
      const span = document.createElement('span');
      const sw = document.createElement('i');
      sw.style.backgroundColor = colorOf(e);
      span.append(sw, e);
      el.append(span);
    }
  }

  // ---------- connection ----------

  function onText(m) {
    switch (m.t) {
      case 'hello':
        state.hello = m;
        emotions = m.emotions || EMOTIONS;
        overlayMaxAge = m.overlay_max_age_ms || 1000;
        historyS = m.history_s || 300;
        $('window').textContent = m.window_s >= 120 ? `${Math.round(m.window_s / 60)} min` : `${Math.round(m.window_s)} s`;
        legend();
        for (const id of m.cameras || []) camFor(id);
        break;
      case 'h':
        points = m.pts || [];
        break;
      case 'r':
        onResults(m.r || []);
        break;
      case 's':
        onStats(m);
        break;
    }
  }

  let backoff = 500;
  let socket = null;
  function sendMode() {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ t: 'mode', mode: state.mode }));
  }

  function connect() {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.binaryType = 'arraybuffer';
    socket = ws;
    ws.onopen = () => {
      sendMode();
      state.connected = true;
      state.connections++;
      backoff = 500;
      setConn(true);
    };
    ws.onmessage = (ev) => {
      state.messages++;
      if (typeof ev.data === 'string') onText(JSON.parse(ev.data));
      else onFrame(ev.data);
    };
    ws.onclose = () => {
      state.connected = false;
      setConn(false);
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  function setConn(on) {
    const el = $('conn');
    el.className = `conn ${on ? 'on' : 'off'}`;
    el.textContent = on ? 'live' : 'reconnecting…';
  }

  // ---------- controls ----------

  function togglePause() {
    state.paused = !state.paused;
    const b = $('pause');
    b.textContent = state.paused ? 'Resume' : 'Pause';
    b.setAttribute('aria-pressed', String(state.paused));
    if (!state.paused) for (const cam of cams.values()) if (cam.pending && !cam.decoding) decodeLoop(cam);
  }

  function toggleMode() {
    state.mode = state.mode === 'live' ? 'matched' : 'live';
    const b = $('mode');
    b.textContent = state.mode === 'live' ? 'Live' : 'Delayed, matched';
    b.setAttribute('aria-pressed', String(state.mode === 'matched'));
    // Pending frames of the other mode are not drawn; the server starts
    // the new mode with every camera's newest frame of it.
    for (const cam of cams.values()) cam.pending = null;
    sendMode();
  }

  function toggleOverlays() {
    state.overlays = !state.overlays;
    const b = $('overlays');
    b.textContent = state.overlays ? 'Overlays on' : 'Overlays off';
    b.setAttribute('aria-pressed', String(state.overlays));
    for (const cam of cams.values()) draw(cam);
  }

  $('pause').addEventListener('click', togglePause);
  $('overlays').addEventListener('click', toggleOverlays);
  $('mode').addEventListener('click', toggleMode);
  document.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLButtonElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === ' ') { ev.preventDefault(); togglePause(); }
    else if (ev.key === 'o') toggleOverlays();
    else if (ev.key === 'l') toggleMode();
    else if (ev.key === 'Escape') for (const t of grid.querySelectorAll('.tile.big')) t.classList.remove('big');
  });
  window.addEventListener('resize', drawCharts);

  legend();
  connect();
})();
