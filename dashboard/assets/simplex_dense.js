/* The dense layer of the simplex renderer (assets/simplex.js): a canvas over the plot area
 * that holds a frame's points when there are too many for Plotly's WebGL scatter.
 */
(function () {
  "use strict";
  /* A canvas under Plotly's hover layer, drawn pixel by pixel.
   *
   * Plotly's WebGL scatter re-computes every point on each Plotly.react (measured: seconds
   * for 100 000 points in Chromium's software WebGL, 0.2 s for 5 000), so past DENSE points
   * a frame's points
   * are written into an ImageData (one pass over typed arrays) on a canvas over the plot
   * area, redrawn after each Plotly draw and while panning. Hover is off there; the SVG
   * export embeds the layer as an image. */
  // a page may change it (window.mixscopeDensePoints: the benchmark does); measured in
  // headless Chromium, the layer redraws 5 000 points in a third of the time Plotly takes
  const DENSE = 2000;
  const denseLayer = new Map();   // graph id -> the shown points ([] groups), or null
  const watched = new WeakSet();
  const luts = {};

  function graphDiv(graphId) {
    const host = document.getElementById(graphId);
    return host && (host.classList.contains("js-plotly-plot") ? host :
                    host.querySelector(".js-plotly-plot"));
  }

  function rgbaWord(colour) {  // "#rrggbb" / "rgb(r, g, b)" -> ImageData's little-endian ABGR
    let r = 0, g = 0, b = 0;
    const hex = /^#([0-9a-f]{6})$/i.exec(String(colour).trim());
    if (hex) {
      const v = parseInt(hex[1], 16);
      r = v >> 16; g = (v >> 8) & 255; b = v & 255;
    } else {
      const m = /rgba?\(([^)]+)\)/.exec(String(colour)) || [0, "0,0,0"];
      [r, g, b] = m[1].split(",").map((q) => Math.round(Number(q)));
    }
    return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  }

  /* 256 colours of the λ colour scale, as Plotly resolved it for the colour bar's trace. */
  function scaleLut(gd) {
    const tr = (gd._fullData || []).find((t) => t.name === "different class");
    const stops = tr && tr.marker && tr.marker.colorscale;
    return stops ? stopsLut(stops) : null;
  }

  /* 256 colours sampled from a resolved Plotly colour scale ([[t, colour], ...]), cached by
   * scale: the one LUT of the canvas layers (this one and the grid's panel layer). */
  function stopsLut(stops) {
    const key = JSON.stringify(stops);
    if (luts[key]) { return luts[key]; }
    const words = stops.map((st) => rgbaWord(st[1]));
    const lut = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      const t = i / 255;
      let j = 0;
      while (j < stops.length - 2 && stops[j + 1][0] < t) { j++; }
      const [t0, t1] = [stops[j][0], stops[j + 1][0]];
      const f = t1 > t0 ? Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) : 0;
      const mix = (sh) => Math.round(((words[j] >>> sh) & 255) * (1 - f) +
                                     ((words[j + 1] >>> sh) & 255) * f);
      lut[i] = ((255 << 24) | (mix(16) << 16) | (mix(8) << 8) | mix(0)) >>> 0;
    }
    luts[key] = lut;
    return lut;
  }

  function canvasOf(gd) {
    let cv = gd.querySelector("canvas.mixscope-dense");
    if (!cv) {
      const holder = gd.querySelector(".svg-container");
      if (!holder) { return null; }
      cv = document.createElement("canvas");
      cv.className = "mixscope-dense";
      cv.style.position = "absolute";
      cv.style.pointerEvents = "none";
      const first = holder.querySelector(".main-svg");
      holder.insertBefore(cv, first ? first.nextSibling : null);
    }
    return cv;
  }

  /* Draw (or clear) the dense layer of a graph at its current axis ranges. */
  function drawDense(graphId) {
    const gd = graphDiv(graphId);
    if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) { return; }
    const groups = denseLayer.get(graphId);
    let cv = gd.querySelector("canvas.mixscope-dense");
    if (!groups) {
      if (cv) { cv.style.display = "none"; }
      return;
    }
    cv = canvasOf(gd);
    if (!cv) { return; }
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(1, Math.round(xa._length * dpr)), H = Math.max(1, Math.round(ya._length * dpr));
    Object.assign(cv.style, {display: "block", left: `${xa._offset}px`, top: `${ya._offset}px`,
                             width: `${xa._length}px`, height: `${ya._length}px`});
    if (cv.width !== W || cv.height !== H) { cv.width = W; cv.height = H; }
    const ctx = cv.getContext("2d");
    if (!cv.__img || cv.__img.width !== W || cv.__img.height !== H) {  // reused frame to frame
      cv.__img = ctx.createImageData(W, H);
      cv.__buf = new Uint32Array(cv.__img.data.buffer);
    }
    const img = cv.__img, buf = cv.__buf;
    buf.fill(0);
    const [x0, x1] = xa.range, [y0, y1] = ya.range;
    const sx = W / (x1 - x0), sy = H / (y1 - y0);
    const lut = scaleLut(gd);
    for (const g of groups) {
      const side = Math.max(2, Math.round(0.6 * g.size * dpr));
      const half = side >> 1;
      const solid = g.colour ? rgbaWord(g.colour) : 0;
      const n = g.x.length;
      const lam = g.lam && lut ? g.lam : null;
      for (let j = 0; j < n; j++) {
        const px = ((g.x[j] - x0) * sx + 0.5 | 0) - half;
        const py = ((y1 - g.y[j]) * sy + 0.5 | 0) - half;
        // λ is in [0, 1]: no clamping needed for the colour table
        const word = lam ? lut[lam[j] * 255 + 0.5 | 0] : solid;
        if (px >= 0 && py >= 0 && px + side <= W && py + side <= H) {  // the common case
          for (let yy = py, o = py * W + px; yy < py + side; yy++, o += W) {
            for (let k = 0; k < side; k++) { buf[o + k] = word; }
          }
          continue;
        }
        if (px < -side || py < -side || px >= W || py >= H) { continue; }
        const xs = Math.max(0, px), xe = Math.min(W, px + side);
        for (let yy = Math.max(0, py), ye = Math.min(H, py + side); yy < ye; yy++) {
          buf.fill(word, yy * W + xs, yy * W + xe);
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    drawOverlay(ctx, groups.overlay || [], (x) => (x - x0) * sx, (y) => (y1 - y) * sy, dpr,
                groups.font);
    gd.dispatchEvent(new CustomEvent("mixscope:drawn"));
  }

  /* The triangle, classifier arrows, class labels and UFM optimum (the figure's other
   * traces, in view units) on top of the points. */
  function drawOverlay(ctx, overlay, X, Y, dpr, font) {
    for (const t of overlay) {
      const colour = (t.line && t.line.color) || (t.textfont && t.textfont.color) || "black";
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = ((t.line && t.line.width) || 1) * dpr;
      ctx.setLineDash(t.line && t.line.dash === "dot" ? [2 * dpr, 3 * dpr] : []);
      if (t.mode === "text") {
        ctx.font = `bold ${14 * dpr}px ${font}`;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        t.x.forEach((x, i) => ctx.fillText(String(t.text[i]).replace(/<[^>]+>/g, ""),
                                           X(x), Y(t.y[i])));
      } else if (t.mode === "markers") {  // the UFM optimum: open circles
        ctx.strokeStyle = t.marker.line.color;
        ctx.lineWidth = dpr;
        const r = (t.marker.size / 2) * dpr;
        ctx.beginPath();
        t.x.forEach((x, i) => {
          ctx.moveTo(X(x) + r, Y(t.y[i]));
          ctx.arc(X(x), Y(t.y[i]), r, 0, 2 * Math.PI);
        });
        ctx.stroke();
      } else {  // lines, broken at nulls; "lines+markers" are the arrows: a head at each end
        ctx.beginPath();
        let pen = false;
        t.x.forEach((x, i) => {
          if (x === null) { pen = false; return; }
          if (pen) { ctx.lineTo(X(x), Y(t.y[i])); } else { ctx.moveTo(X(x), Y(t.y[i])); }
          pen = true;
        });
        ctx.stroke();
        if (t.mode === "lines+markers") {
          ctx.setLineDash([]);
          for (let i = 1; i < t.x.length; i++) {
            if (t.x[i] === null || t.x[i - 1] === null) { continue; }
            const [ax, ay, bx, by] = [X(t.x[i - 1]), Y(t.y[i - 1]), X(t.x[i]), Y(t.y[i])];
            const ang = Math.atan2(by - ay, bx - ax), h = 9 * dpr;
            ctx.beginPath();
            ctx.moveTo(bx, by);
            ctx.lineTo(bx - h * Math.cos(ang - 0.4), by - h * Math.sin(ang - 0.4));
            ctx.lineTo(bx - h * Math.cos(ang + 0.4), by - h * Math.sin(ang + 0.4));
            ctx.closePath();
            ctx.fill();
          }
        }
      }
    }
    ctx.setLineDash([]);
  }

  /* Redraw a graph's dense layer after each Plotly draw and while it is panned or zoomed. */
  function watchGraph(graphId, again = true, tries = 0) {
    const gd = graphDiv(graphId);
    if (!gd || !gd.on || !gd._fullLayout) {  // not plotted yet: until it is (10 s at most)
      if (tries < 200) { setTimeout(() => watchGraph(graphId, again, tries + 1), 50); }
      return;
    }
    // Plotly.newPlot (dcc.Graph's first plot) drops every listener of the div: attach again
    // whenever ours are gone, and draw at once if the div was plotted meanwhile
    const attached = gd._ev && typeof gd._ev.listeners === "function" ?
      gd._ev.listeners("plotly_afterplot").includes(gd.__mixscopeRedraw) :
      Boolean(gd.__mixscopeRedraw);
    if (!attached) {
      const redraw = () => drawDense(graphId);
      gd.__mixscopeRedraw = redraw;
      gd.on("plotly_afterplot", redraw);
      gd.on("plotly_relayouting", redraw);
      gd.on("plotly_relayout", redraw);
      if (gd._fullLayout && gd._fullLayout.xaxis) { redraw(); }
    } else if (!again && denseLayer.get(graphId)) {
      // the later check: a layer that should show but lost its canvas to a re-plot
      const cv = gd.querySelector("canvas.mixscope-dense");
      if (!cv || cv.style.display === "none") { drawDense(graphId); }
    }
    if (!watched.has(gd)) {  // DOM listeners survive Plotly's purge
      watched.add(gd);
      gd.addEventListener("mousemove", (ev) => hover(graphId, gd, ev));
      gd.addEventListener("mouseleave", () => { tip(gd).style.display = "none"; });
    }
    // and once the figure handed to Dash is on the page (a listener may have been dropped
    // by a newPlot after the check above)
    if (again) { setTimeout(() => watchGraph(graphId, false), 300); }
  }

  function tip(gd) {
    let el = gd.querySelector(".mixscope-dense-tip");
    if (!el) {
      el = document.createElement("div");
      el.className = "mixscope-dense-tip";
      gd.appendChild(el);
    }
    return el;
  }

  /* The hover of the dense layer: the point nearest the pointer (within 8 px), its text in
   * a tooltip (as text: class names are data, never markup). */
  function hover(graphId, gd, ev) {
    const groups = denseLayer.get(graphId);
    const el = tip(gd);
    if (!groups || !gd._fullLayout || !gd._fullLayout.xaxis) { el.style.display = "none"; return; }
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const box = gd.getBoundingClientRect();
    const mx = ev.clientX - box.left - xa._offset, my = ev.clientY - box.top - ya._offset;
    const sx = xa._length / (xa.range[1] - xa.range[0]), sy = ya._length / (ya.range[1] - ya.range[0]);
    let best = 64, hit = null;  // squared pixels
    for (const g of groups) {  // later groups are drawn on top: they win ties
      for (let j = 0; j < g.x.length; j++) {
        const dx = (g.x[j] - xa.range[0]) * sx - mx, dy = (ya.range[1] - g.y[j]) * sy - my;
        const d2 = dx * dx + dy * dy;
        if (d2 <= best) { best = d2; hit = g.text[j]; }
      }
    }
    if (hit === null) { el.style.display = "none"; return; }
    el.textContent = hit.replace(/<br>/g, "\n").replace(/<[^>]+>/g, "");
    Object.assign(el.style, {display: "block", left: `${mx + xa._offset + 12}px`,
                             top: `${my + ya._offset + 12}px`});
  }

  function clearDense(graphId) {
    if (denseLayer.get(graphId)) { denseLayer.set(graphId, null); drawDense(graphId); }
  }

  /* The dense layer as a layout image over the plot area (for the SVG export), or null. */
  function denseImage(graphId) {
    const gd = graphDiv(graphId);
    const cv = gd && gd.querySelector("canvas.mixscope-dense");
    if (!denseLayer.get(graphId) || !cv) { return null; }
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    return {source: cv.toDataURL("image/png"), xref: "x", yref: "y", x: xa.range[0],
            y: ya.range[1], sizex: xa.range[1] - xa.range[0], sizey: ya.range[1] - ya.range[0],
            sizing: "stretch", layer: "above", xanchor: "left", yanchor: "top"};
  }

  window.mixscopeDense = {get DENSE() { return window.mixscopeDensePoints || DENSE; },
                          watch: watchGraph, image: denseImage, clear: clearDense,
                          draw: drawDense, set: (id, layer) => denseLayer.set(id, layer),
                          shown: (id) => Boolean(denseLayer.get(id)),
                          rgbaWord, stopsLut};
})();
