/* Clientside callbacks of mixscope's Explore page (dashboard/pages/explore/).
 *
 * The frames of a (run, triple, layer) arrive page by page, as the API's JSON with b64
 * arrays, in a dcc.Store. Scrubbing the epoch slider only swaps which frame is drawn, by the
 * one simplex renderer (assets/simplex.js): no server round trip.
 */
(function () {
  "use strict";
  const NO = () => window.dash_clientside.no_update;
  const S = () => window.mixscopeSimplex;  // assets load alphabetically: resolve at call time

  // graph id -> [the static key of the dense figure last handed to Plotly, its graph div]
  const drawnDense = {};

  /* True (and the dense layer redrawn at once) when a dense figure equals the one Plotly
   * already shows: a slider move then costs no Plotly call at all. */
  function unchangedDense(graphId, fig) {
    const host = document.getElementById(graphId);
    const gd = host && host.querySelector(".js-plotly-plot");
    const last = drawnDense[graphId];
    drawnDense[graphId] = fig.staticKey ? [fig.staticKey, gd] : null;
    if (fig.staticKey && last && last[0] === fig.staticKey && last[1] === gd) {
      S().drawDense(graphId);
      return true;
    }
    return false;
  }

  function plain(fig) {  // the figure without the renderer's notes
    return {data: fig.data, layout: fig.layout};
  }

  /* What an export of a view is called and titled (issue 19):
   * mixscope-RUN-eE-LAYER-a-b-c (the run's id, the epoch, the layer, the class names). */
  const slug = (x) => String(x).replace(/[^A-Za-z0-9._-]+/g, "_");
  function exportName(store, epoch) {
    const names = (store.classes || []).map((c) => (store.all_names || [])[c] ?? c);
    return ["mixscope", slug(String(store.run || "run").slice(0, 8)), `e${epoch}`,
            slug(store.layer || "penultimate"), ...names.map(slug)].join("-");
  }
  function viewTitle(store, runName) {
    const names = (store.classes || []).map((c) => (store.all_names || [])[c] ?? c);
    return `${runName || String(store.run || "").slice(0, 8)} · layer ${store.layer} · ` +
      `classes ${names.join(", ")}`;
  }

  /* The camera button's file name follows the view: Plotly reads the graph's
   * toImageButtonOptions when it is clicked, so they are set after every draw. */
  const exportNames = {};
  const armed = new WeakSet();
  function armExport(graphId, name) {
    exportNames[graphId] = name;
    const apply = () => {
      const host = document.getElementById(graphId);
      const gd = host && host.querySelector(".js-plotly-plot");
      if (!gd || !gd._context) { return; }
      gd._context.toImageButtonOptions = Object.assign(
        {}, gd._context.toImageButtonOptions, {filename: exportNames[graphId]});
      if (!armed.has(gd) && gd.on) {
        armed.add(gd);
        gd.on("plotly_afterplot", () => {
          gd._context.toImageButtonOptions = Object.assign(
            {}, gd._context.toImageButtonOptions, {filename: exportNames[graphId]});
        });
      }
    };
    setTimeout(apply, 0);
  }

  /* A dense frame whose figure is unchanged still has its own epoch in the title. */
  function retitle(graphId, title) {
    const host = document.getElementById(graphId);
    const gd = host && host.querySelector(".js-plotly-plot");
    if (!gd || !gd.layout || !gd.layout.title) { return; }
    gd.layout.title.text = title;
    const el = gd.querySelector(".gtitle");
    if (el) { el.textContent = title; }
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    mixscope: {
      // `index` is the epoch slider's position: an index into the recorded epochs
      renderSimplex: function (index, store, kinds, lamRange, ufm, info) {
        if (!store || !store.frames || !store.frames.length) {
          S().clearDense("simplex");
          return [S().emptyFigure(store && store.message ? store.message :
                                  "Pick a run and three classes"), ""];
        }
        // the run, layer, classes and epoch in the plot's title, so an exported image says
        // what it shows (and the compared view has both titles)
        const fig = S().simplexFigure(store, S().epochAt(store, index), kinds, lamRange, ufm,
                                      {graphId: "simplex", showEpoch: true,
                                       title: viewTitle(store, info && info.name)});
        const label = `epoch ${fig.frame.epoch} · ${fig.count} points`;
        armExport("simplex", exportName(store, fig.frame.epoch));
        if (unchangedDense("simplex", fig)) {
          retitle("simplex", fig.layout.title.text);
          return [NO(), label];
        }
        return [plain(fig), label];
      },
      // the second run shows its last recorded epoch not after the first run's epoch
      renderCompare: function (index, store, kinds, lamRange, ufm, mainStore) {
        if (!store || !store.frames || !store.frames.length) {
          S().clearDense("simplex-b");
          return S().emptyFigure(store && store.message ? store.message : "");
        }
        const e = mainStore && mainStore.epochs ? S().epochAt(mainStore, index) : 1e9;
        const fig = S().simplexFigure(store, e, kinds, lamRange, ufm,
                                      {title: viewTitle(store, store.title), showEpoch: true,
                                       graphId: "simplex-b"});
        armExport("simplex-b", exportName(store, fig.frame.epoch));
        if (unchangedDense("simplex-b", fig)) {
          retitle("simplex-b", fig.layout.title.text);
          return NO();
        }
        return plain(fig);
      },
      // the small multiples: projections fetched by the server, drawn by the same renderer
      renderMultiples: function (payload, kinds) {
        if (!payload || !payload.panels) { return [NO(), NO()]; }
        return [S().multiplesFigure(payload, kinds), {display: "block"}];
      },
      togglePlay: function (n, disabled) {
        const playing = !!n && disabled;  // disabled -> start playing
        return [!playing, playing ? "❚❚ Pause" : "▶ Play"];
      },
      // scrubbing (or playing) back from the last epoch stops following the run's newest
      unfollowOnScrub: function (value, max, follow) {
        if (!follow || !follow.length || value === null || value === undefined ||
            max === null || max === undefined || Number(value) >= Number(max)) { return NO(); }
        return [];
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
        const epoch = S().epochAt(info, index);
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
          S().epochAt(info, index) : null;
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
          // a dense view's points are on the canvas layer: the SVG embeds it as an image
          const img = S().denseImage(which || "simplex");
          const target = img ? {data: gd.data, layout: Object.assign({}, gd.layout, {
            images: (gd.layout.images || []).concat([img])})} : gd;
          window.Plotly.downloadImage(target, {format: "svg",
                                               filename: exportNames[which || "simplex"] ||
                                                 "mixscope-simplex",
                                               width: 900, height: 820});
        }
        return "";
      },
    },
  });
})();
