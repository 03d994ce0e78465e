/* Clientside callbacks of mixscope's sweep grid (dashboard/pages/grid/).
 *
 * The page's `grid-data` holds every panel's frames (one GET /api/grid, reshaped by the
 * server into simplex-renderer stores), the facets and the curves. Everything here runs in
 * the browser: the facet layout (one differing parameter as columns, a second as rows, the
 * rest on the panel's label, seeds of one setting stacked or averaged), one epoch slider
 * drawing every panel with the renderer's panel layer (assets/simplex_panel.js) on one λ
 * scale and the same axes, the linked curves, and the SVG/PNG/CSV exports.
 */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const S = () => window.mixscopeSimplex;
  const METRICS = [["test_accuracy", "test accuracy"], ["ece", "ECE"],
                   ["channel_radius", "channel radius"], ["nc1", "NC1"],
                   ["classifier_etf", "classifier → ETF distance"]];
  // what the panels show now: the DOM, the cells, the last drawn epoch (exports read it)
  const state = {data: null, key: null, cells: [], els: [], epoch: null, cols: [], rows: [],
                 colField: null, rowField: null};

  const fmt = (v) => (typeof v === "number" ? String(Number(v.toPrecision(4))) :
    (v === null || v === undefined ? "–" : (typeof v === "string" ? v : JSON.stringify(v))));
  const sortVals = (vals) => (vals.every((v) => typeof v === "number") ?
    vals.slice().sort((a, b) => a - b) : vals);

  /* Cells: the runs of one setting (all differing fields equal; seeds differ) together, at
   * (column = value of colField, row = value of rowField with the other fields). */
  function layoutCells(data, colField, rowField) {
    const fields = data.facets.fields || [];
    const others = fields.filter((f) => f !== colField && f !== rowField);
    const groups = new Map();
    data.panels.forEach((p, i) => {
      const k = JSON.stringify(fields.map((f) => p.values[f]));
      if (!groups.has(k)) { groups.set(k, []); }
      groups.get(k).push(i);
    });
    const cells = [];
    for (const runs of groups.values()) {
      const v = data.panels[runs[0]].values;
      const rowLabel = [rowField ? `${rowField} = ${fmt(v[rowField])}` : ""]
        .concat(others.map((f) => `${f} = ${fmt(v[f])}`)).filter((t) => t).join(", ");
      cells.push({runs, colVal: colField ? v[colField] : null,
                  rowVal: rowField ? v[rowField] : null,
                  rowKey: JSON.stringify([rowField ? v[rowField] : null].concat(
                    others.map((f) => v[f]))),
                  rowLabel, label: others.map((f) => `${f} = ${fmt(v[f])}`).join(", ")});
    }
    const cols = sortVals([...new Set(cells.map((c) => c.colVal))]);
    const rowKeys = [...new Set(cells.map((c) => c.rowKey))];
    if (rowField) {
      const byKey = new Map(cells.map((c) => [c.rowKey, c.rowVal]));
      if (rowKeys.every((k) => typeof byKey.get(k) === "number")) {
        rowKeys.sort((a, b) => byKey.get(a) - byKey.get(b));
      }
    }
    cells.forEach((c) => {
      c.col = cols.findIndex((x) => JSON.stringify(x) === JSON.stringify(c.colVal));
      c.row = rowKeys.indexOf(c.rowKey);
    });
    // without a row facet, wrap a long single row
    const ncols = colField ? cols.length : Math.min(cells.length, 6);
    if (!colField) { cells.forEach((c, i) => { c.col = i % ncols; c.row = Math.floor(i / ncols); }); }
    const nrows = colField ? rowKeys.length : Math.ceil(cells.length / ncols);
    const rowLabels = new Array(nrows).fill("");
    if (colField) { cells.forEach((c) => { rowLabels[c.row] = c.rowLabel; }); }
    return {cells, ncols, nrows, colLabels: colField ? cols.map((v) => `${colField} = ${fmt(v)}`) :
      [], rowLabels};
  }

  function element(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  /* (Re)build the panels' DOM: column labels, row labels, one <a> per cell. */
  function build(host, data, lay) {
    host.innerHTML = "";
    const size = Math.max(120, Math.min(300, Math.floor((host.clientWidth - 140) / lay.ncols) - 8));
    const c = S().palette();
    const legend = element("div", "grid-legend");
    const bar = element("canvas", "grid-scale");
    bar.width = 160; bar.height = 10;
    const bctx = bar.getContext("2d");
    for (let i = 0; i < 160; i++) { bctx.fillStyle = S().lambdaColour(i / 159); bctx.fillRect(i, 0, 1, 10); }
    legend.append(element("span", "", "λ on the lower class 0"), bar, element("span", "", "1"));
    const same = element("span", "grid-swatch", "same class");
    same.style.borderColor = c.same;
    legend.append(same);
    host.append(legend);
    const table = element("div", "grid-table");
    table.style.gridTemplateColumns = `${lay.rowLabels.some((t) => t) ? "130px " : ""}repeat(${lay.ncols}, ${size}px)`;
    const hasRowLabels = lay.rowLabels.some((t) => t);
    if (lay.colLabels.length) {
      if (hasRowLabels) { table.append(element("div", "grid-corner")); }
      lay.colLabels.forEach((t) => table.append(element("div", "grid-col-label", t)));
    }
    const els = [];
    for (let r = 0; r < lay.nrows; r++) {
      if (hasRowLabels) { table.append(element("div", "grid-row-label", lay.rowLabels[r])); }
      for (let col = 0; col < lay.ncols; col++) {
        const i = lay.cells.findIndex((x) => x.row === r && x.col === col);
        if (i < 0) { table.append(element("div", "grid-empty")); continue; }
        const cell = lay.cells[i];
        const a = element("a", "grid-panel");
        a.id = `grid-panel-${i}`;
        const names = cell.runs.map((k) => data.panels[k].name);
        const title = element("div", "grid-panel-title", cell.label || names[0]);
        title.title = names.join("\n");
        const canvas = element("canvas", "grid-canvas");
        canvas.style.width = `${size}px`; canvas.style.height = `${size}px`;
        const note = element("div", "grid-panel-note");
        const tip = element("div", "grid-tip");
        a.append(title, canvas, note, tip);
        canvas.addEventListener("mousemove", (ev) => {
          const b = canvas.getBoundingClientRect();
          const t = S().nearestText(canvas, ev.clientX - b.left, ev.clientY - b.top);
          tip.innerHTML = t || "";
          tip.style.display = t ? "block" : "none";
          tip.style.left = `${ev.clientX - b.left + 12}px`;
          tip.style.top = `${ev.clientY - b.top + 12}px`;
        });
        canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
        table.append(a);
        els.push({a, canvas, note, cell, i});
      }
    }
    host.append(table);
    return els;
  }

  function explorHref(run, data, epoch) {
    const parts = [`run=${encodeURIComponent(run)}`];
    if (data.classes) { parts.push(`classes=${data.classes.join(",")}`); }
    if (data.layer) { parts.push(`layer=${encodeURIComponent(data.layer)}`); }
    if (epoch !== null && epoch !== undefined) { parts.push(`epoch=${epoch}`); }
    return `/explore?${parts.join("&")}`;
  }

  const probeCache = new WeakMap();
  /* Whether the stores show the same probe points (examples, partners, λ) in one order. */
  function sameProbe(stores) {
    const sig = (s) => {
      if (!probeCache.has(s)) {
        const f = s.frames[0];
        probeCache.set(s, [f.index_a && f.index_a.data, f.index_b && f.index_b.data,
                           f.lam && f.lam.data].join("|"));
      }
      return probeCache.get(s);
    };
    return stores.every((s) => sig(s) === sig(stores[0]));
  }

  /* Draw every panel at the slider's epoch; returns the label beside the slider. */
  function render(index, data, colField, rowField, seeds, kinds) {
    const host = document.getElementById("grid-panels");
    if (!host) { return NO(); }
    if (!data || !data.panels || !data.epochs) {
      host.innerHTML = ""; state.data = null;
      return "";
    }
    if (!window.Plotly) {
      // the λ scale is Plotly's (simplex_panel.js), and Plotly loads with the page's first
      // graph, possibly after the data: draw as soon as it is there
      setTimeout(() => {
        const label = render(index, data, colField, rowField, seeds, kinds);
        const el = document.getElementById("grid-epoch-label");
        if (el && typeof label === "string") { el.textContent = label; }
      }, 50);
      return "loading…";
    }
    const t0 = performance.now();
    const E = data.epochs.length ? S().epochAt(data, index) : null;
    const key = [colField, rowField, host.clientWidth].join("|");
    if (state.data !== data || state.key !== key) {
      const lay = layoutCells(data, colField || null, rowField || null);
      state.els = build(host, data, lay);
      Object.assign(state, {data, key, cells: lay.cells, colLabels: lay.colLabels,
                            rowLabels: lay.rowLabels, ncols: lay.ncols, nrows: lay.nrows,
                            colField, rowField});
    }
    state.epoch = E;
    state.seeds = seeds;
    const storesOf = (cell) => cell.runs.map((k) => data.panels[k].store).filter((s) => s);
    let scale = 0;  // the same axes for every panel: the largest extent at this epoch
    if (E !== null) {
      for (const el of state.els) {
        for (const s of storesOf(el.cell)) { scale = Math.max(scale, S().panelExtent(s, E)); }
      }
    }
    let drawnPanels = 0;
    for (const el of state.els) {
      const stores = storesOf(el.cell);
      const runs = el.cell.runs.map((k) => data.panels[k]);
      el.a.classList.toggle("grid-running", runs.some((p) => p.status === "running"));
      if (!stores.length || E === null) {
        const ctx = el.canvas.getContext("2d");
        ctx.clearRect(0, 0, el.canvas.width, el.canvas.height);
        el.note.textContent = runs.map((p) => p.message || p.status).join("; ");
        el.a.dataset.epoch = "";
        continue;
      }
      // averaging a point over seeds means something only when the seeds probed the same
      // examples with the same λ; otherwise they stack, and the note says why
      const mean = seeds === "average" && stores.length > 1 && sameProbe(stores);
      const out = S().drawPanel(el.canvas, stores[0], E, {
        scale, kinds, overlay: stores.slice(1), mean});
      drawnPanels++;
      const shown = [...new Set(stores.map((s) => S().frameAt(s, S().prepare(s), E).epoch))];
      const seedNote = stores.length < 2 ? "" : ` · ${stores.length} seeds ` + (mean ?
        "averaged" : (seeds === "average" ? "stacked (their probe sets differ)" : "stacked"));
      el.note.textContent = (shown.length === 1 && shown[0] === E ? `epoch ${E}` :
        `epoch ${shown.join(", ")} (nearest recorded ≤ ${E})`) + seedNote +
        (runs.some((p) => p.status === "running") ? " · running" : "");
      el.a.dataset.epoch = String(out.epoch);
      el.a.dataset.points = String(out.count);
      el.a.href = explorHref(stores[0].run, data, out.epoch);
    }
    // for the benchmark: when this draw ended and was painted (performance.now() counts
    // from the page's navigation, so the first one is the first grid painted)
    const last = {epoch: E, ms: performance.now() - t0, at: performance.now(), painted: null,
                  panels: drawnPanels};
    window.mixscopeGridLast = last;
    requestAnimationFrame(() => {
      last.painted = performance.now();
      if (drawnPanels && !window.mixscopeGridFirst) { window.mixscopeGridFirst = last; }
    });
    return E === null ? "no recorded epoch yet" : `epoch ${E} · ${drawnPanels} panels`;
  }

  /* A metric of a run at the last epoch <= E that has a value. */
  function valueAt(curve, key, E) {
    if (!curve || !curve[key]) { return null; }
    let v = null;
    for (let i = 0; i < curve.epoch.length; i++) {
      if (curve.epoch[i] > E) { break; }
      if (curve[key][i] !== null && curve[key][i] !== undefined) { v = curve[key][i]; }
    }
    return v;
  }

  function seriesColour(k) {
    const css = window.getComputedStyle(document.documentElement);
    return css.getPropertyValue(`--series-${k % 13}`).trim();
  }

  /* Each metric against the column facet at the slider's epoch: one line per row (and other
   * facets), the mean over seeds with their spread (standard deviation) as error bars;
   * customdata is the cell, so hovering a point outlines its panel. */
  let curvesDrawn = null;  // [data, cols, rows] the graph's figure was last handed for
  function curves(index, data, colField, rowField) {
    if (!data || !data.panels || !data.epochs || !data.epochs.length) {
      curvesDrawn = null;
      return S().emptyFigure("the sweep's curves appear here");
    }
    const host = document.getElementById("grid-curves");
    const gd = host && host.querySelector(".js-plotly-plot");
    const same = curvesDrawn && curvesDrawn[0] === data && curvesDrawn[1] === colField &&
      curvesDrawn[2] === rowField && gd && gd.data && window.Plotly;
    curvesDrawn = [data, colField, rowField];
    if (same) {
      // a slider move: the panels paint first, the curves right after (a direct
      // Plotly.react, so the figure prop and the graph's hover stay as they are)
      requestAnimationFrame(() => setTimeout(() => {
        const fig = curvesFigure(index, data, colField, rowField);
        window.Plotly.react(gd, fig.data, Object.assign({}, gd.layout, {annotations:
          fig.layout.annotations}));
      }, 0));
      return NO();
    }
    return curvesFigure(index, data, colField, rowField);
  }

  function curvesFigure(index, data, colField, rowField) {
    const c = S().palette();
    const E = S().epochAt(data, index);
    const lay = layoutCells(data, colField || null, rowField || null);
    const numeric = lay.cells.every((cell) => typeof cell.colVal === "number");
    const xs = lay.cells.map((cell, i) => (colField ? cell.colVal : i));
    const positive = numeric && xs.every((x) => x > 0);
    const logx = positive && Math.max(...xs) / Math.min(...xs) >= 20;
    const lines = [...new Set(lay.cells.map((cell) => cell.rowKey))];
    const data_ = [];
    const layout = {paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: c.plotBg, height: 760,
                    font: {family: c.font, color: c.ink, size: 11}, hovermode: "closest",
                    margin: {l: 55, r: 10, t: 20, b: 40}, showlegend: lines.length > 1,
                    legend: {orientation: "h", y: -0.06}, annotations: []};
    const n = METRICS.length, gap = 0.04;
    METRICS.forEach(([key, title], m) => {
      const sfx = m === 0 ? "" : String(m + 1);
      const y1 = 1 - m / n, y0 = 1 - (m + 1) / n + gap;
      layout[`yaxis${sfx}`] = {domain: [y0, y1], anchor: `x${sfx}`, zeroline: false,
                               gridcolor: c.faint};
      layout[`xaxis${sfx}`] = {anchor: `y${sfx}`, matches: m ? "x" : undefined,
                               type: logx ? "log" : (numeric || !colField ? "linear" : "category"),
                               showticklabels: m === n - 1,
                               title: m === n - 1 ? {text: colField || "panel"} : undefined};
      layout.annotations.push({text: title, xref: "paper", yref: "paper", x: 0, y: y1,
                               xanchor: "left", yanchor: "bottom", showarrow: false,
                               font: {size: 11, color: c.muted}});
      lines.forEach((rk, li) => {
        const cells = lay.cells.map((cell, i) => [cell, i]).filter(([cell]) => cell.rowKey === rk)
          .sort((a, b) => (numeric ? a[0].colVal - b[0].colVal : 0));
        const x = [], y = [], err = [], cd = [], text = [];
        for (const [cell, i] of cells) {
          const vals = cell.runs.map((k) => valueAt(data.curves[data.panels[k].run_id], key, E))
            .filter((v) => v !== null && Number.isFinite(v));
          if (!vals.length) { continue; }
          const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
          const sd = vals.length > 1 ?
            Math.sqrt(vals.reduce((s, v) => s + (v - mean) ** 2, 0) / (vals.length - 1)) : 0;
          x.push(colField ? cell.colVal : i); y.push(mean); err.push(sd); cd.push(i);
          text.push(`${cell.label || data.panels[cell.runs[0]].name}<br>${vals.length} seed(s)`);
        }
        const colour = seriesColour(li);
        data_.push({type: "scatter", mode: "lines+markers", x, y, customdata: cd, text,
                    xaxis: `x${sfx}`, yaxis: `y${sfx}`, name: lay.cells.find((cl) => cl.rowKey === rk).rowLabel || "runs",
                    legendgroup: rk, showlegend: m === 0,
                    hovertemplate: `%{text}<br>${title} = %{y:.4g}<extra></extra>`,
                    error_y: {type: "data", array: err, visible: true, color: colour},
                    line: {color: colour}, marker: {color: colour, size: 8}});
      });
    });
    return {data: data_, layout};
  }

  /* Hovering a curve's point outlines its panel. */
  function outline(hover) {
    document.querySelectorAll(".grid-panel.outlined").forEach((e) => e.classList.remove("outlined"));
    const pt = hover && hover.points && hover.points[0];
    if (pt && pt.customdata !== undefined) {
      const el = document.getElementById(`grid-panel-${pt.customdata}`);
      if (el) { el.classList.add("outlined"); }
      return pt.customdata;
    }
    return null;
  }

  function swap(_n, cols, rows) { return [rows || null, cols || null]; }

  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 10000);
  }

  function esc(t) {
    return String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /* The grid as one figure: facet labels, each panel's image and note, the λ scale. */
  function figureParts() {
    const d = state.data;
    const P = state.els.length ? state.els[0].canvas.clientWidth : 200;
    const left = state.rowLabels.some((t) => t) ? 150 : 10, top = 70;
    const cw = P + 16, ch = P + 44;
    const W = left + state.ncols * cw + 10, H = top + state.nrows * ch + 10;
    const what = `${d.sweep_name || d.sweep || "runs"} · classes ` +
      `${(d.class_names || d.classes || []).join(", ")} · layer ${d.layer} · epoch ${state.epoch}`;
    const texts = [{x: 10, y: 22, t: what, size: 15, anchor: "start"}];
    state.colLabels.forEach((t, i) => texts.push({x: left + i * cw + cw / 2, y: top - 10, t,
                                                  size: 13, anchor: "middle"}));
    state.rowLabels.forEach((t, r) => texts.push({x: 10, y: top + r * ch + ch / 2, t, size: 12,
                                                  anchor: "start"}));
    const panels = state.els.map((el) => {
      const x = left + el.cell.col * cw, y = top + el.cell.row * ch;
      texts.push({x: x + 4, y: y + 12, t: el.a.querySelector(".grid-panel-title").textContent,
                  size: 11, anchor: "start"});
      texts.push({x: x + 4, y: y + P + 34, t: el.note.textContent, size: 10, anchor: "start",
                  muted: true});
      return {x, y: y + 18, canvas: el.canvas};
    });
    return {W, H, P, texts, panels};
  }

  function svgOf() {
    const c = S().palette();
    const {W, H, P, texts, panels} = figureParts();
    const out = [`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${esc(c.font)}">`];
    for (const p of panels) {
      out.push(`<image x="${p.x}" y="${p.y}" width="${P}" height="${P}" href="${p.canvas.toDataURL("image/png")}"/>`);
    }
    for (const t of texts) {
      out.push(`<text x="${t.x}" y="${t.y}" font-size="${t.size}" text-anchor="${t.anchor}" fill="${t.muted ? c.muted : c.ink}">${esc(t.t)}</text>`);
    }
    const stops = [];
    for (let i = 0; i <= 10; i++) { stops.push(`<stop offset="${i / 10}" stop-color="${S().lambdaColour(i / 10)}"/>`); }
    out.push(`<defs><linearGradient id="lam">${stops.join("")}</linearGradient></defs>`);
    out.push(`<text x="${W - 330}" y="46" font-size="11" fill="${c.muted}">λ on the lower class 0</text>`);
    out.push(`<rect x="${W - 185}" y="37" width="150" height="10" fill="url(#lam)"/>`);
    out.push(`<text x="${W - 30}" y="46" font-size="11" fill="${c.muted}">1</text></svg>`);
    return out.join("\n");
  }

  function pngOf(then) {
    const c = S().palette();
    const {W, H, P, texts, panels} = figureParts();
    const cv = document.createElement("canvas");
    const k = 2;
    cv.width = W * k; cv.height = H * k;
    const ctx = cv.getContext("2d");
    ctx.scale(k, k);
    ctx.fillStyle = c.plotBg; ctx.fillRect(0, 0, W, H);
    for (const p of panels) { ctx.drawImage(p.canvas, p.x, p.y, P, P); }
    for (const t of texts) {
      ctx.fillStyle = t.muted ? c.muted : c.ink;
      ctx.font = `${t.size}px ${c.font}`;
      ctx.textAlign = t.anchor === "middle" ? "center" : "left";
      ctx.fillText(t.t, t.x, t.y);
    }
    for (let i = 0; i < 150; i++) { ctx.fillStyle = S().lambdaColour(i / 149); ctx.fillRect(W - 185 + i, 37, 1, 10); }
    cv.toBlob(then, "image/png");
  }

  /* Every panel's shown points, one CSV: run, facets, seed, epoch shown, point fields. */
  function csvOf() {
    const d = state.data, E = state.epoch;
    const fields = d.facets.fields || [];
    const head = ["run_id", "run_name"].concat(fields, ["seed", "epoch", "grid_epoch", "kind",
      "class_a", "class_b", "lam_lower", "index_a", "index_b", "x", "y"]);
    const lines = [head.join(",")];
    const kindName = ["clean", "same", "different"];
    const q = (v) => { const s = fmt(v); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
    d.panels.forEach((panel) => {
      const s = panel.store;
      if (!s) { return; }
      const p = S().prepare(s), fr = S().frameAt(s, p, E);
      const f0 = s.frames[0];
      const ca = S().decode(f0.class_a), cb = S().decode(f0.class_b);
      const ia = S().decode(f0.index_a), ib = S().decode(f0.index_b);
      const pre = [q(panel.run_id), q(panel.name)].concat(fields.map((f) => q(panel.values[f])),
        [q(panel.seed), fr.epoch, E]).join(",");
      for (let i = 0; i < p.n; i++) {
        lines.push(`${pre},${kindName[p.kind[i]]},${ca[i]},${cb[i]},${p.lam[i]},${ia[i]},${ib[i]},` +
                   `${fr.pts[2 * i]},${fr.pts[2 * i + 1]}`);
      }
    });
    return lines.join("\n") + "\n";
  }

  function exportGrid() {
    const trig = window.dash_clientside.callback_context.triggered;
    const which = trig && trig.length ? trig[0].prop_id.split(".")[0] : "";
    if (!state.data || !state.els.length) { return "nothing to export yet"; }
    if (which === "grid-svg") {
      const svg = svgOf();
      download(new Blob([svg], {type: "image/svg+xml"}), "mixscope-grid.svg");
      return `mixscope-grid.svg (${svg.length} bytes, epoch ${state.epoch})`;
    }
    if (which === "grid-png") {
      pngOf((blob) => download(blob, "mixscope-grid.png"));
      return `mixscope-grid.png (epoch ${state.epoch})`;
    }
    if (which === "grid-csv") {
      const csv = csvOf();
      download(new Blob([csv], {type: "text/csv"}), "mixscope-grid.csv");
      return `mixscope-grid.csv (${csv.split("\n").length - 2} points, epoch ${state.epoch})`;
    }
    return NO();
  }

  function writeUrl(index, data) {
    if (!data || window.location.pathname !== "/grid") { return NO(); }
    const parts = [data.sweep ? `sweep=${encodeURIComponent(data.sweep)}` :
      `runs=${data.panels.map((p) => encodeURIComponent(p.run_id)).join(",")}`];
    if (data.classes) { parts.push(`classes=${data.classes.join(",")}`); }
    if (data.layer) { parts.push(`layer=${encodeURIComponent(data.layer)}`); }
    if (data.epochs && data.epochs.length) { parts.push(`epoch=${S().epochAt(data, index)}`); }
    if (data.points) { parts.push(`points=${data.points}`); }
    const query = parts.join("&");
    setTimeout(() => {
      if (window.location.pathname === "/grid") {
        window.history.replaceState(null, "", `/grid?${query}`);
      }
    }, 0);
    return query;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    mixscopeGrid: {render, curves, outline, swap, exportGrid, writeUrl},
  });
  window.mixscopeGrid = {state, layoutCells, svgOf, csvOf};
})();
