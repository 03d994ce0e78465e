/* Clientside callbacks of mixscope's Explore page.
 *
 * The frames of a (run, triple, layer) arrive once, as the API's JSON with b64 arrays, in a
 * dcc.Store. Scrubbing the epoch slider only swaps which frame is drawn: no server round trip.
 * Decoded arrays, hover texts and filter indices are cached per store object, so a slider
 * move costs one small gather plus Plotly.react on WebGL traces.
 */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const SAME = "#e8590c", CLEAN = "#495057", INK = "#1f2933";
  const FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  const TYPES = {float32: Float32Array, float64: Float64Array, int16: Int16Array,
                 int32: Int32Array, int8: Int8Array, uint8: Uint8Array, uint16: Uint16Array,
                 uint32: Uint32Array};

  function decode(obj) {
    if (!obj || typeof obj !== "object" || obj.data === undefined) { return obj; }
    const bin = atob(obj.data);
    const buf = new ArrayBuffer(bin.length);
    const u8 = new Uint8Array(buf);
    for (let i = 0; i < bin.length; i++) { u8[i] = bin.charCodeAt(i); }
    if (obj.dtype === "int64") {  // small indices: convert to doubles
      const big = new BigInt64Array(buf), out = new Float64Array(big.length);
      for (let i = 0; i < big.length; i++) { out[i] = Number(big[i]); }
      return out;
    }
    return new (TYPES[obj.dtype] || Float32Array)(buf);
  }

  const prepared = new WeakMap();

  /* Decode the parts shared by every frame (λ, classes, kinds, indices) and build hover texts. */
  function prepare(store) {
    if (prepared.has(store)) { return prepared.get(store); }
    const f0 = store.frames[0];
    const names = store.all_names || [];
    const nm = (c) => (names[c] !== undefined ? names[c] : String(c));
    const lam = decode(f0.lam), kind = decode(f0.kind);
    const ca = decode(f0.class_a), cb = decode(f0.class_b);
    const ia = decode(f0.index_a), ib = decode(f0.index_b);
    const n = lam.length;
    const lamLow = new Float32Array(n), text = new Array(n);
    for (let i = 0; i < n; i++) {
      // λ is the weight on partner a; colour by the weight on the lower class of the pair
      lamLow[i] = ca[i] <= cb[i] ? lam[i] : 1 - lam[i];
      if (kind[i] === 0) {
        text[i] = `<b>${nm(ca[i])}</b> (clean)<br>index ${ia[i]}`;
      } else {
        const lo = Math.min(ca[i], cb[i]);
        text[i] = `<b>${nm(ca[i])} × ${nm(cb[i])}</b><br>λ(${nm(lo)}) = ${lamLow[i].toFixed(3)}` +
                  `<br>indices ${ia[i]}, ${ib[i]}`;
      }
    }
    const p = {n, lam: lamLow, kind, text, names: nm, frames: new Array(store.frames.length),
               filters: {}};
    prepared.set(store, p);
    return p;
  }

  function frameAt(store, p, epoch) {
    // the last recorded epoch not after the requested one (the first if none)
    const eps = store.epochs;
    let k = 0;
    for (let i = 0; i < eps.length; i++) { if (eps[i] <= epoch) { k = i; } }
    if (!p.frames[k]) {
      const f = store.frames[k];
      p.frames[k] = {epoch: eps[k], pts: decode(f.points), arrows: f.arrows,
                     vertices: f.vertices, radius: f.radius, metrics: f.metrics || {}};
    }
    return p.frames[k];
  }

  function epochAt(obj, index) {
    const eps = obj.epochs || [];
    if (index === null || index === undefined) { return eps[eps.length - 1]; }
    return eps[Math.max(0, Math.min(eps.length - 1, Number(index)))];
  }

  function indices(p, kinds, lamRange) {
    const lo = lamRange ? lamRange[0] : 0, hi = lamRange ? lamRange[1] : 1;
    const key = (kinds || []).join(",") + "|" + lo + "|" + hi;
    if (p.filters[key]) { return p.filters[key]; }
    const want = {0: (kinds || []).includes("clean"), 1: (kinds || []).includes("same"),
                  2: (kinds || []).includes("different")};
    const groups = {0: [], 1: [], 2: []};
    for (let i = 0; i < p.n; i++) {
      const k = p.kind[i];
      if (!want[k]) { continue; }
      if (k !== 0 && (p.lam[i] < lo - 1e-9 || p.lam[i] > hi + 1e-9)) { continue; }
      groups[k].push(i);
    }
    const out = {};
    for (const k of [0, 1, 2]) {
      out[k] = {idx: Int32Array.from(groups[k]), text: groups[k].map((i) => p.text[i])};
      if (k === 2) { out[k].lam = Float32Array.from(groups[k], (i) => p.lam[i]); }
    }
    p.filters[key] = out;
    return out;
  }

  function gather(pts, idx) {
    const x = new Float32Array(idx.length), y = new Float32Array(idx.length);
    let m = 0;
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j];
      x[j] = pts[2 * i]; y[j] = pts[2 * i + 1];
      m = Math.max(m, Math.abs(x[j]), Math.abs(y[j]));
    }
    return {x, y, m};
  }

  const emptyCache = {};
  function emptyFigure(msg) {
    // cached: returning the same object again lets dcc.Graph skip a redraw
    if (!emptyCache[msg]) { emptyCache[msg] = emptyFigureNew(msg); }
    return emptyCache[msg];
  }

  function emptyFigureNew(msg) {
    return {data: [], layout: {
      xaxis: {visible: false}, yaxis: {visible: false}, height: 520,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "white",
      annotations: [{text: msg, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
                     font: {size: 14, color: "#6b7785", family: FONT}}]}};
  }

  /* The simplex figure of one frame.
   *
   * Every coordinate is divided by the frame's extent, so the layout (axes, ranges, legend)
   * is identical for all frames and moving the slider is a pure restyle of the traces: no
   * relayout, which is what keeps a frame swap fast. Axes are hidden, so the rescaling is
   * invisible (each epoch fills the view, as in the paper's figures). Arrows and class labels
   * are traces, not annotations, for the same reason.
   */
  function simplexFigure(store, epoch, kinds, lamRange, ufm, opts) {
    const p = prepare(store);
    const fr = frameAt(store, p, epoch);
    const groups = indices(p, kinds, lamRange);
    const data = [];
    const pts = {};
    let m = fr.radius || 1;
    for (const k of [0, 1, 2]) {
      pts[k] = gather(fr.pts, groups[k].idx);
      if (groups[k].idx.length) { m = Math.max(m, pts[k].m); }
    }
    const R = 1.12 * m;
    const add = (k, trace) => {
      const g = pts[k];
      for (let j = 0; j < g.x.length; j++) { g.x[j] /= R; g.y[j] /= R; }
      trace.x = g.x; trace.y = g.y; trace.text = groups[k].text;
      trace.type = "scattergl"; trace.mode = "markers";
      trace.hovertemplate = "%{text}<extra></extra>";
      data.push(trace);
    };
    if (groups[0].idx.length) {
      add(0, {name: "clean", marker: {color: CLEAN, size: 5, symbol: "circle-open"}});
    }
    if (groups[2].idx.length) {
      add(2, {name: "different class", marker: {
        color: groups[2].lam, colorscale: "Viridis", cmin: 0, cmax: 1, size: 5, opacity: 0.85,
        colorbar: {title: {text: "λ on the<br>lower class", side: "top"}, thickness: 12,
                   len: 0.6, y: 0.45, outlinewidth: 0, tickvals: [0, 0.25, 0.5, 0.75, 1]},
        showscale: opts.colorbar !== false}});
    }
    if (groups[1].idx.length) {
      add(1, {name: "same class", marker: {color: SAME, size: 5, opacity: 0.9}});
    }
    const v = fr.vertices || [];
    if (v.length === 3) {  // the triangle of the three classifier directions
      data.push({type: "scatter", mode: "lines", name: "simplex", hoverinfo: "skip",
                 showlegend: false, x: [v[0][0], v[1][0], v[2][0], v[0][0]].map((q) => q / R),
                 y: [v[0][1], v[1][1], v[2][1], v[0][1]].map((q) => q / R),
                 line: {color: "#adb5bd", width: 1, dash: "dot"}});
    }
    if (ufm && ufm.points && ufm.points.length) {  // UFM optimum at this frame's scale
      const s = (fr.radius || 1) / (ufm.radius || 1) / R;
      data.push({type: "scattergl", mode: "markers", name: "UFM optimum", hoverinfo: "skip",
                 x: ufm.points.map((q) => q[0] * s), y: ufm.points.map((q) => q[1] * s),
                 marker: {color: "rgba(0,0,0,0)", size: 7, line: {color: INK, width: 1}}});
    }
    const arrows = fr.arrows || [];
    const cls = store.classes || [];
    if (arrows.length) {  // classifier rows: black arrows from the centre
      const ax = [], ay = [], size = [];
      const lx = [], ly = [], lt = [];
      for (let k = 0; k < arrows.length; k++) {
        const a = arrows[k];
        ax.push(0, a[0] / R, null); ay.push(0, a[1] / R, null); size.push(0, 16, 0);
        const lab = v[k] || a;
        const r = Math.hypot(lab[0], lab[1]) || 1;
        lx.push(lab[0] / R + 0.08 * lab[0] / r); ly.push(lab[1] / R + 0.08 * lab[1] / r);
        lt.push(`<b>${p.names(cls[k])}</b>`);
      }
      data.push({type: "scatter", mode: "lines+markers", name: "classifier", showlegend: false,
                 hoverinfo: "skip", x: ax, y: ay, line: {color: "black", width: 2},
                 marker: {symbol: "arrow", angleref: "previous", size: size, color: "black"}});
      data.push({type: "scatter", mode: "text", name: "classes", showlegend: false,
                 hoverinfo: "skip", x: lx, y: ly, text: lt,
                 textfont: {size: 14, color: INK, family: FONT}});
    }
    return {data, layout: {
      title: {text: opts.showEpoch ? `${opts.title} · epoch ${fr.epoch}` : (opts.title || ""), font: {size: 13, family: FONT, color: "#6b7785"},
              x: 0.02, y: 0.98, yanchor: "top"},
      height: 520, margin: {l: 10, r: 10, t: 30, b: 10},
      xaxis: {range: [-1, 1], visible: false},
      yaxis: {range: [-1, 1], visible: false, scaleanchor: "x", scaleratio: 1},
      showlegend: true, legend: {orientation: "h", x: 0, y: -0.02, yanchor: "top",
                                 font: {family: FONT}},
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "white", font: {family: FONT, color: INK},
      hoverlabel: {font: {family: FONT}},
      uirevision: `${store.run}|${(store.classes || []).join(",")}|${store.layer}`,
      dragmode: "pan"}};
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    mixscope: {
      // `index` is the epoch slider's position: an index into the recorded epochs
      renderSimplex: function (index, store, kinds, lamRange, ufm) {
        if (!store || !store.frames || !store.frames.length) {
          return [emptyFigure(store && store.message ? store.message :
                              "Pick a run and three classes"), ""];
        }
        const e = epochAt(store, index);
        const fig = simplexFigure(store, e, kinds, lamRange, ufm, {});
        const fr = frameAt(store, prepare(store), e);
        const n = fig.data.filter((t) => t.type === "scattergl" && t.name !== "UFM optimum")
          .reduce((s, t) => s + t.x.length, 0);
        return [fig, `epoch ${fr.epoch} · ${n} points`];
      },
      // the second run shows its last recorded epoch not after the first run's epoch
      renderCompare: function (index, store, kinds, lamRange, ufm, mainStore) {
        if (!store || !store.frames || !store.frames.length) {
          return emptyFigure(store && store.message ? store.message : "");
        }
        const e = mainStore && mainStore.epochs ? epochAt(mainStore, index) : 1e9;
        return simplexFigure(store, e, kinds, lamRange, ufm, {title: store.title || "", showEpoch: true});
      },
      togglePlay: function (n, disabled) {
        const playing = !!n && disabled;  // disabled -> start playing
        return [!playing, playing ? "❚❚ Pause" : "▶ Play"];
      },
      playTick: function (n, value, max) {
        if (max === null || max === undefined) { return NO(); }
        return ((Number(value) || 0) + 1) % (Number(max) + 1);
      },
      // Moves the dashed "current epoch" line of the metrics panels. Done with a direct
      // Plotly.relayout after the simplex has had its frame (the figure prop is left as is:
      // only the line's x changes), so it never delays the scrub itself.
      markEpoch: function (index, fig, info) {
        if (!fig || !fig.layout || !fig.layout.shapes || !info) { return NO(); }
        const epoch = epochAt(info, index);
        const n = fig.layout.shapes.length;
        setTimeout(() => {
          const host = document.getElementById("ex-metrics");
          const gd = host && host.querySelector(".js-plotly-plot");
          if (!gd || !gd.layout || !window.Plotly) { return; }
          const upd = {};
          for (let i = 0; i < n; i++) { upd[`shapes[${i}].x0`] = epoch; upd[`shapes[${i}].x1`] = epoch; }
          window.Plotly.relayout(gd, upd);
        }, 30);
        return NO();
      },
      writeUrl: function (run, a, b, c, index, layer, info) {
        if (!run) { return NO(); }
        const epoch = info && info.epochs && index !== null && index !== undefined ?
          epochAt(info, index) : null;
        // commas stay literal so a shared link reads ?classes=0,1,7
        const parts = [`run=${encodeURIComponent(run)}`];
        if ([a, b, c].every((x) => x !== null && x !== undefined)) {
          parts.push(`classes=${a},${b},${c}`);
        }
        if (epoch !== null && epoch !== undefined) { parts.push(`epoch=${epoch}`); }
        if (layer) { parts.push(`layer=${encodeURIComponent(layer)}`); }
        const query = parts.join("&");
        // replaceState: the page router does not re-render, the URL is just shareable;
        // deferred so that it never competes with drawing the frame
        setTimeout(() => {
          if (window.location.pathname === "/explore") {
            window.history.replaceState(null, "", window.location.pathname + "?" + query);
          }
        }, 0);
        return query;
      },
      exportSvg: function (n, which) {
        if (!n) { return NO(); }
        const host = document.getElementById(which || "simplex");
        const gd = host && (host.classList.contains("js-plotly-plot") ? host :
                            host.querySelector(".js-plotly-plot"));
        if (gd && window.Plotly) {
          window.Plotly.downloadImage(gd, {format: "svg", filename: "mixscope-simplex",
                                           width: 900, height: 820});
        }
        return "";
      },
    },
  });
})();
