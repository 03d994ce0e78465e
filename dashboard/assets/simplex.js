/* The simplex renderer: the one place a simplex view of mixscope is drawn.
 *
 * Explore's main view, the compared run beside it and the small multiples are all built here
 * (their SVG/PNG export is Plotly's image of the same figure). Colours come from the CSS
 * variables of assets/palette.css (their one definition); λ on the lower class of a pair
 * arrives precomputed from the server (`lam_low`, dashboard.figures.lam_on_lower).
 *
 * A "store" is the frames JSON of one (run, triple, layer): `frames` (the API's frames, b64
 * arrays), `epochs`, `classes`, `all_names`, `lam_low`. Decoded arrays, hover texts and the
 * filter indices are cached per store object, so a frame swap costs one gather of the shown
 * points plus Plotly.react on WebGL traces whose colours and texts are the same objects as
 * before. Past a number of points, the points go on a canvas layer (simplex_dense.js).
 */
(function () {
  "use strict";
  const D = () => window.mixscopeDense;  // assets/simplex_dense.js (loads after this file)
  const TYPES = {float32: Float32Array, float64: Float64Array, int16: Int16Array,
                 int32: Int32Array, int8: Int8Array, uint8: Uint8Array, uint16: Uint16Array,
                 uint32: Uint32Array};

  let paletteCache = null;
  /* The palette's CSS variables (assets/palette.css), read once from the document. */
  function palette() {
    if (paletteCache) { return paletteCache; }
    const css = window.getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(`--${name}`).trim();
    paletteCache = {ink: v("ink"), muted: v("muted"), same: v("same"), clean: v("clean"),
                    lambdaScale: v("lambda-scale"), faint: v("faint"), arrow: v("arrow"),
                    plotBg: v("plot-bg"), font: v("font")};
    return paletteCache;
  }

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

  // Decoded stores by view key: appending a page of frames (a Patch) makes a new store
  // object, and must not decode the shared arrays and rebuild the hover texts again.
  const prepared = new Map();
  const byObject = new WeakMap();  // stores without a key (small multiples)

  /* Decode the parts shared by every frame (λ, classes, kinds, indices); hover texts. */
  function prepare(store) {
    const first = store.frames[0].points.data;
    const hit = store.key ? prepared.get(store.key) : byObject.get(store);
    if (hit && hit.first === first) { return hit; }
    const f0 = store.frames[0];
    const names = store.all_names || [];
    const nm = (c) => (names[c] !== undefined ? names[c] : String(c));
    const kind = decode(f0.kind), lamLow = decode(store.lam_low);
    const ca = decode(f0.class_a), cb = decode(f0.class_b);
    const ia = decode(f0.index_a), ib = decode(f0.index_b);
    const n = kind.length;
    const text = new Array(n);
    for (let i = 0; i < n; i++) {
      if (kind[i] === 0) {
        text[i] = `<b>${nm(ca[i])}</b> (clean)<br>index ${ia[i]}`;
      } else {
        const lo = Math.min(ca[i], cb[i]);
        text[i] = `<b>${nm(ca[i])} × ${nm(cb[i])}</b><br>λ(${nm(lo)}) = ${lamLow[i].toFixed(3)}` +
                  `<br>indices ${ia[i]}, ${ib[i]}`;
      }
    }
    const p = {n, lam: lamLow, kind, text, names: nm, frames: [], filters: {}, first};
    if (store.key) {
      prepared.delete(store.key);
      prepared.set(store.key, p);
      if (prepared.size > 6) { prepared.delete(prepared.keys().next().value); }
    } else {
      byObject.set(store, p);
    }
    return p;
  }

  /* Index of the last recorded epoch not after `epoch` (the first if none). */
  function frameIndex(epochs, epoch) {
    let k = 0;
    for (let i = 0; i < epochs.length; i++) { if (epochs[i] <= epoch) { k = i; } }
    return k;
  }

  function frameAt(store, p, epoch) {
    const k = frameIndex(store.epochs, epoch);
    if (!p.frames[k]) {
      const f = store.frames[k];
      p.frames[k] = {epoch: store.epochs[k], pts: decode(f.points), arrows: f.arrows,
                     vertices: f.vertices, radius: f.radius};
    }
    return p.frames[k];
  }

  /* The epoch at a slider position (the slider moves over indices of recorded epochs). */
  function epochAt(obj, index) {
    const eps = obj.epochs || [];
    if (index === null || index === undefined) { return eps[eps.length - 1]; }
    return eps[Math.max(0, Math.min(eps.length - 1, Number(index)))];
  }

  /* Points of each kind passing the kind and λ filters: indices, hover texts, λ colours. */
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

  /* x, y of the chosen points (new arrays: Plotly must see a change) and their extent. */
  function gather(pts, idx) {
    const x = new Float32Array(idx.length), y = new Float32Array(idx.length);
    let m = 0;
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j];
      const a = pts[2 * i], b = pts[2 * i + 1];
      x[j] = a; y[j] = b;
      const r = a > b ? (a > -b ? a : -b) : (b > -a ? b : -a);
      if (r > m) { m = r; }
    }
    return {x, y, m};
  }

  const emptyCache = {};
  /* A figure with a centred note; cached so that dcc.Graph skips a redraw of the same one. */
  function emptyFigure(msg) {
    if (emptyCache[msg]) { return emptyCache[msg]; }
    const c = palette();
    emptyCache[msg] = {data: [], layout: {
      xaxis: {visible: false}, yaxis: {visible: false}, height: 520,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: c.plotBg,
      annotations: [{text: msg, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
                     font: {size: 14, color: c.muted, family: c.font}}]}};
    return emptyCache[msg];
  }

  /* The traces of one frame, in view units: every coordinate is divided by the frame's
   * extent, so the axes (and the layout) are the same for all frames and a slider move is a
   * pure restyle, no relayout. Arrows and class labels are traces, not annotations, for the
   * same reason. `opts`: axis (subplot suffix), size, colorbar, labels, legend. */
  function traces(store, epoch, kinds, lamRange, ufm, opts) {
    const c = palette();
    const p = prepare(store);
    const fr = frameAt(store, p, epoch);
    const groups = indices(p, kinds, lamRange);
    const size = opts.size || 5;
    const axes = opts.axis ? {xaxis: `x${opts.axis}`, yaxis: `y${opts.axis}`} : {};
    const legend = opts.legend !== false;
    let data = [];
    const pts = {};
    let m = fr.radius || 1;
    for (const k of [0, 1, 2]) {
      pts[k] = gather(fr.pts, groups[k].idx);
      if (groups[k].idx.length && pts[k].m > m) { m = pts[k].m; }
    }
    const R = 1.12 * m;
    const count = pts[0].x.length + pts[1].x.length + pts[2].x.length;
    // past DENSE points the canvas layer draws them (and their hover); the traces keep the
    // legend and the colour bar
    const layer = opts.graphId && count > D().DENSE ? [] : null;
    const add = (k, trace) => {
      const g = pts[k];
      const s = 1 / R;
      for (let j = 0; j < g.x.length; j++) { g.x[j] *= s; g.y[j] *= s; }
      Object.assign(trace, axes, {x: g.x, y: g.y, text: groups[k].text, type: "scattergl",
                                  mode: "markers", showlegend: legend,
                                  hovertemplate: "%{text}<extra></extra>"});
      if (layer) {
        const mk = trace.marker;
        layer.push({x: g.x, y: g.y, size: mk.size, lam: k === 2 ? groups[2].lam : null,
                    colour: k === 2 ? null : mk.color, text: groups[k].text});
        // an SVG trace with no point: legend and colour bar without touching WebGL
        Object.assign(trace, {x: [null], y: [null], text: null, hoverinfo: "skip",
                              type: "scatter"});
        delete trace.hovertemplate;
        if (k === 2) { trace.marker = Object.assign({}, mk, {color: [0.5]}); }
      }
      data.push(trace);
    };
    if (groups[0].idx.length) {
      add(0, {name: "clean", marker: {color: c.clean, size, symbol: "circle-open"}});
    }
    if (groups[2].idx.length) {
      add(2, {name: "different class", marker: {
        color: groups[2].lam, colorscale: c.lambdaScale, cmin: 0, cmax: 1, size, opacity: 0.85,
        colorbar: {title: {text: "λ on the<br>lower class", side: "top"}, thickness: 12,
                   len: 0.6, y: 0.45, outlinewidth: 0, tickvals: [0, 0.25, 0.5, 0.75, 1]},
        showscale: opts.colorbar !== false}});
    }
    if (groups[1].idx.length) {
      add(1, {name: "same class", marker: {color: c.same, size, opacity: 0.9}});
    }
    const v = fr.vertices || [];
    if (v.length === 3) {  // the triangle of the three classifier directions
      data.push(Object.assign({type: "scatter", mode: "lines", name: "simplex",
                               hoverinfo: "skip", showlegend: false,
                               x: [v[0][0], v[1][0], v[2][0], v[0][0]].map((q) => q / R),
                               y: [v[0][1], v[1][1], v[2][1], v[0][1]].map((q) => q / R),
                               line: {color: c.faint, width: 1, dash: "dot"}}, axes));
    }
    if (ufm && ufm.points && ufm.points.length) {  // UFM optimum at this frame's scale
      const s = (fr.radius || 1) / (ufm.radius || 1) / R;
      data.push(Object.assign({type: "scattergl", mode: "markers", name: "UFM optimum",
                               hoverinfo: "skip", showlegend: legend,
                               x: ufm.points.map((q) => q[0] * s),
                               y: ufm.points.map((q) => q[1] * s),
                               marker: {color: "rgba(0,0,0,0)", size: 7,
                                        line: {color: c.ink, width: 1}}}, axes));
    }
    const arrows = fr.arrows || [];
    const cls = store.classes || [];
    if (arrows.length) {  // classifier rows: arrows from the centre
      const ax = [], ay = [], sizes = [];
      const lx = [], ly = [], lt = [];
      for (let k = 0; k < arrows.length; k++) {
        const a = arrows[k];
        ax.push(0, a[0] / R, null); ay.push(0, a[1] / R, null);
        sizes.push(0, opts.axis ? 10 : 16, 0);
        const lab = v[k] || a;
        const r = Math.hypot(lab[0], lab[1]) || 1;
        lx.push(lab[0] / R + 0.08 * lab[0] / r); ly.push(lab[1] / R + 0.08 * lab[1] / r);
        lt.push(`<b>${p.names(cls[k])}</b>`);
      }
      data.push(Object.assign({type: "scatter", mode: "lines+markers", name: "classifier",
                               showlegend: false, hoverinfo: "skip", x: ax, y: ay,
                               line: {color: c.arrow, width: 2},
                               marker: {symbol: "arrow", angleref: "previous", size: sizes,
                                        color: c.arrow}}, axes));
      if (opts.labels !== false) {
        data.push(Object.assign({type: "scatter", mode: "text", name: "classes",
                                 showlegend: false, hoverinfo: "skip", x: lx, y: ly, text: lt,
                                 textfont: {size: 14, color: c.ink, family: c.font}}, axes));
      }
    }
    if (layer) {
      // the dense layer draws the triangle, arrows, labels and UFM optimum too: the Plotly
      // figure (legend, colour bar) is then the same for every frame and is left alone
      layer.overlay = data.filter((t) => !POINT_TRACES.has(t.name));
      data = data.filter((t) => POINT_TRACES.has(t.name));
      if (layer.overlay.some((t) => t.name === "UFM optimum")) {
        data.push(Object.assign({type: "scatter", mode: "markers", name: "UFM optimum",
                                 x: [null], y: [null], hoverinfo: "skip", showlegend: legend,
                                 marker: {color: "rgba(0,0,0,0)", size: 7,
                                          line: {color: c.ink, width: 1}}}, axes));
      }
      layer.font = c.font;
    }
    if (opts.graphId) { D().set(opts.graphId, layer); }
    return {data, frame: fr, count, dense: !!layer};
  }

  const POINT_TRACES = new Set(["clean", "different class", "same class"]);

  function baseLayout(c) {
    return {paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: c.plotBg,
            font: {family: c.font, color: c.ink}, hoverlabel: {font: {family: c.font}},
            dragmode: "pan"};
  }

  /* The simplex figure of one frame (Explore's main view and the compared run). */
  function simplexFigure(store, epoch, kinds, lamRange, ufm, opts) {
    const c = palette();
    const {data, frame, count, dense} = traces(store, epoch, kinds, lamRange, ufm, opts);
    const title = opts.showEpoch ? `${opts.title} · epoch ${frame.epoch}` : (opts.title || "");
    if (opts.graphId) { D().watch(opts.graphId); }
    const uirevision = `${store.run}|${(store.classes || []).join(",")}|${store.layer}`;
    // a dense figure that equals the one drawn needs no Plotly call: the layer redraws
    // (the epoch in the title does not count: a dense scrub swaps the title's text alone,
    // assets/explore.js)
    const staticKey = dense ? JSON.stringify([data.map((t) => t.name), opts.title || "",
                                              uirevision]) : null;
    return {data, frame, count, staticKey, layout: Object.assign(baseLayout(c), {
      title: {text: title, font: {size: 13, family: c.font, color: c.muted},
              x: 0.02, y: 0.98, yanchor: "top"},
      height: 520, margin: {l: 10, r: 10, t: 30, b: 10},
      xaxis: {range: [-1, 1], visible: false},
      yaxis: {range: [-1, 1], visible: false, scaleanchor: "x", scaleratio: 1},
      showlegend: true, legend: {orientation: "h", x: 0, y: -0.02, yanchor: "top",
                                 font: {family: c.font}},
      uirevision})};
  }

  /* Several triples at one epoch on a grid (the paper's Fig. 11). `payload`: `epoch`,
   * `layer`, `all_names` and `panels` ({classes, title, frame, lam_low} or {title,
   * message}). */
  function multiplesFigure(payload, kinds) {
    const c = palette();
    const panels = payload.panels || [];
    const cols = 3, rows = Math.max(1, Math.ceil(panels.length / cols));
    const gx = 0.02, gy = 0.06;
    const data = [], annotations = [];
    const layout = Object.assign(baseLayout(c), {
      height: 330 * rows, showlegend: false, margin: {l: 10, r: 10, t: 60, b: 10},
      title: {text: `epoch ${payload.epoch} · layer ${payload.layer}`, x: 0.01,
              font: {size: 13}}});
    panels.forEach((panel, i) => {
      const r = Math.floor(i / cols), col = i % cols;
      const suffix = i === 0 ? "" : String(i + 1);
      const x0 = col / cols + (col ? gx / 2 : 0), x1 = (col + 1) / cols - (col < cols - 1 ? gx / 2 : 0);
      const y1 = 1 - r / rows - (r ? gy / 2 : 0), y0 = 1 - (r + 1) / rows + (r < rows - 1 ? gy / 2 : 0);
      layout[`xaxis${suffix}`] = {domain: [x0, x1], range: [-1, 1], visible: false,
                                  anchor: `y${suffix}`};
      layout[`yaxis${suffix}`] = {domain: [y0, y1], range: [-1, 1], visible: false,
                                  anchor: `x${suffix}`, scaleanchor: `x${suffix}`, scaleratio: 1};
      let title = panel.title;
      if (panel.frame) {
        const store = {frames: [panel.frame], epochs: [payload.epoch], classes: panel.classes,
                       all_names: payload.all_names, lam_low: panel.lam_low};
        const t = traces(store, payload.epoch, kinds, null, null,
                         {axis: suffix || "", size: 3, colorbar: i === 0, labels: false,
                          legend: false});
        t.data.forEach((tr) => { if (!suffix) { delete tr.xaxis; delete tr.yaxis; } data.push(tr); });
      } else {
        title = `${panel.title} (${panel.message})`;
      }
      annotations.push({text: title, showarrow: false, xref: "paper", yref: "paper",
                        x: (x0 + x1) / 2, y: y1, yanchor: "bottom",
                        font: {size: 13, color: c.ink, family: c.font}});
    });
    layout.annotations = annotations;
    return {data, layout};
  }

  window.mixscopeSimplex = {palette, decode, prepare, frameAt, epochAt, emptyFigure,
                            simplexFigure, multiplesFigure,
                            denseImage: (id) => D().image(id), clearDense: (id) => D().clear(id),
                            drawDense: (id) => D().draw(id)};
})();
