/* The simplex renderer's panel layer (assets/simplex.js): one frame drawn straight onto a
 * small canvas, for views with many panels at once (the sweep grid). A Plotly figure per
 * panel costs a Plotly.react each per slider move (16 of them: far past 100 ms); a canvas
 * panel is one pass over the frame's typed arrays written into an ImageData.
 *
 * The frame, its decoded arrays, λ on the lower class and the hover texts come from
 * simplex.js (`prepare`, `frameAt`), so a panel shows exactly what Explore shows of the same
 * store; the colours from the palette's CSS variables; the λ colour scale is the one Plotly
 * resolves for the palette's `--lambda-scale`, sampled into 256 colours once.
 */
(function () {
  "use strict";
  const S = () => window.mixscopeSimplex;
  const drawn = new WeakMap();   // canvas -> what it shows (for hover and export)
  const images = new WeakMap();  // canvas -> its ImageData
  let lut = null;

  // colour words and the scale's LUT: the dense layer's (assets/simplex_dense.js, loaded first)
  const word = (colour) => window.mixscopeDense.rgbaWord(colour);

  /* 256 colours of the palette's λ scale, as Plotly resolves the named scale. */
  function lambdaLut() {
    if (lut) { return lut; }
    const div = document.createElement("div");
    div.style.cssText = "position:absolute;left:-9999px;width:10px;height:10px";
    document.body.appendChild(div);
    window.Plotly.newPlot(div, [{type: "scatter", x: [0], y: [0], mode: "markers",
                                 marker: {color: [0], colorscale: S().palette().lambdaScale}}]);
    // the hidden plot stays: purging it at once races Plotly's own deferred redraw
    lut = window.mixscopeDense.stopsLut(div._fullData[0].marker.colorscale);
    return lut;
  }

  /* CSS colour of λ (0..1) on the scale: for legends drawn outside a canvas. */
  function lambdaColour(t) {
    const w = lambdaLut()[Math.max(0, Math.min(255, Math.round(t * 255)))];
    return `rgb(${w & 255}, ${(w >>> 8) & 255}, ${(w >>> 16) & 255})`;
  }

  /* The largest |x| or |y| of a frame's points and vertices (cached on the frame). */
  function extent(store, epoch) {
    const p = S().prepare(store);
    const fr = S().frameAt(store, p, epoch);
    if (fr.extent === undefined) {
      let m = fr.radius || 0;
      const pts = fr.pts;
      for (let i = 0; i < pts.length; i++) {
        const a = pts[i] < 0 ? -pts[i] : pts[i];
        if (a > m) { m = a; }
      }
      fr.extent = m || 1;
    }
    return fr.extent;
  }

  /* Draw the frame of `store` at the last recorded epoch <= `epoch` on `canvas` (CSS size
   * kept, backing store at the device's pixel ratio). `opts.scale`: the half-width the
   * panel shows (same axes across panels), default this frame's own extent; `opts.kinds`
   * (clean, same, different); `opts.overlay`: more stores drawn into the same panel (seeds
   * stacked); `opts.mean`: draw every point at its mean over these stores (seeds averaged).
   * Returns {epoch, count}. */
  function drawPanel(canvas, store, epoch, opts) {
    const c = S().palette();
    const o = opts || {};
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 200, h = canvas.clientHeight || w;
    const W = Math.max(1, Math.round(w * dpr)), H = Math.max(1, Math.round(h * dpr));
    if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
    const ctx = canvas.getContext("2d");
    const stores = [store].concat(o.overlay || []);
    const p = S().prepare(store);
    const fr = S().frameAt(store, p, epoch);
    const R = 1.12 * (o.scale || extent(store, epoch));
    const half = Math.min(W, H) / 2, cx = W / 2, cy = H / 2;
    const sx = half / R;
    const kinds = o.kinds || ["same", "different"];
    const want = [kinds.includes("clean"), kinds.includes("same"), kinds.includes("different")];
    // one ImageData per canvas, cleared and refilled at each draw (no 250 kB allocation
    // per panel per slider move)
    let img = images.get(canvas);
    if (!img || img.width !== W || img.height !== H) {
      img = ctx.createImageData(W, H);
      images.set(canvas, img);
    }
    const px = new Uint32Array(img.data.buffer);
    px.fill(0);
    const L = lambdaLut();
    const cols = [word(c.clean), word(c.same)];
    const rad = Math.max(1, Math.round(1.2 * dpr));
    let pos = fr.pts;
    if (o.mean && stores.length > 1) {  // seeds averaged: only when their points are the same
      const all = stores.map((s) => S().frameAt(s, S().prepare(s), epoch).pts);
      if (all.every((a) => a.length === pos.length)) {
        pos = new Float32Array(pos.length);
        for (const a of all) { for (let i = 0; i < a.length; i++) { pos[i] += a[i] / all.length; } }
      }
    }
    const shown = [];
    const layers = o.mean ? [[p, pos]] : stores.map((s) => {
      const q = S().prepare(s);
      return [q, S().frameAt(s, q, epoch).pts];
    });
    let count = 0;
    for (const [q, pts] of layers) {
      const xs = new Float32Array(q.n), ys = new Float32Array(q.n);
      for (const k of [2, 1, 0]) {  // different-class under same-class under clean
        if (!want[k]) { continue; }
        for (let i = 0; i < q.n; i++) {
          if (q.kind[i] !== k) { continue; }
          const x = Math.round(cx + pts[2 * i] * sx), y = Math.round(cy - pts[2 * i + 1] * sx);
          xs[i] = x; ys[i] = y;
          count++;
          if (x < rad || y < rad || x >= W - rad || y >= H - rad) { continue; }
          const colour = k === 2 ? L[Math.max(0, Math.min(255, Math.round(q.lam[i] * 255)))] :
            cols[k];
          for (let dy = -rad; dy <= rad; dy++) {
            const row = (y + dy) * W;
            for (let dx = -rad; dx <= rad; dx++) {
              if (k === 0 && Math.abs(dx) < rad && Math.abs(dy) < rad) { continue; }  // open
              px[row + x + dx] = colour;
            }
          }
        }
      }
      shown.push({q, xs, ys});
    }
    ctx.putImageData(img, 0, 0);
    // the triangle, the classifier's arrows and the class labels
    const v = fr.vertices || [];
    ctx.save();
    if (v.length === 3) {
      ctx.setLineDash([2 * dpr, 3 * dpr]);
      ctx.strokeStyle = c.faint; ctx.lineWidth = dpr;
      ctx.beginPath();
      v.concat([v[0]]).forEach((q, i) => {
        const X = cx + q[0] * sx, Y = cy - q[1] * sx;
        if (i) { ctx.lineTo(X, Y); } else { ctx.moveTo(X, Y); }
      });
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.strokeStyle = c.arrow; ctx.lineWidth = 1.5 * dpr;
    (fr.arrows || []).forEach((a) => {
      ctx.beginPath(); ctx.moveTo(cx, cy); ctx.lineTo(cx + a[0] * sx, cy - a[1] * sx); ctx.stroke();
    });
    if (o.labels !== false && v.length === 3) {
      ctx.fillStyle = c.ink;
      ctx.font = `${11 * dpr}px ${c.font}`;
      ctx.textAlign = "center"; ctx.textBaseline = "middle";
      const cls = store.classes || [];
      v.forEach((q, k) => {
        const r = Math.hypot(q[0], q[1]) || 1;
        const X = cx + q[0] * sx + 9 * dpr * q[0] / r, Y = cy - q[1] * sx - 9 * dpr * q[1] / r;
        ctx.fillText(p.names(cls[k]), X, Y);
      });
    }
    ctx.restore();
    drawn.set(canvas, {shown, dpr});
    return {epoch: fr.epoch, count};
  }

  /* The hover text of the point nearest to (x, y) CSS pixels of a drawn panel, within 6 px. */
  function nearest(canvas, x, y) {
    const d = drawn.get(canvas);
    if (!d) { return null; }
    const X = x * d.dpr, Y = y * d.dpr, lim = (6 * d.dpr) ** 2;
    let best = null, bd = lim;
    for (const {q, xs, ys} of d.shown) {
      for (let i = 0; i < q.n; i++) {
        if (xs[i] === 0 && ys[i] === 0) { continue; }
        const e = (xs[i] - X) ** 2 + (ys[i] - Y) ** 2;
        if (e < bd) { bd = e; best = q.text[i]; }
      }
    }
    return best;
  }

  Object.assign(window.mixscopeSimplex, {drawPanel, panelExtent: extent, nearestText: nearest,
                                         lambdaLut, lambdaColour});
})();
