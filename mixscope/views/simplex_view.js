// The notebook's simplex view (mixscope.show): an anywidget front end around the dashboard's
// one simplex renderer, dashboard/assets/simplex.js (window.mixscopeSimplex), which is loaded
// from the source text the Python side sends; this file only lays out the plots and the
// epoch slider. Plotly and the palette's CSS variables are installed once per page.
function install(model) {
  if (!document.getElementById("mixscope-palette")) {
    const style = document.createElement("style");
    style.id = "mixscope-palette";
    style.textContent = model.get("_palette_css");
    document.head.appendChild(style);
  }
  if (!window.Plotly) {
    // plotly.min.js is a UMD bundle: hide any module system so it sets window.Plotly
    new Function("module", "exports", "define", model.get("_plotly_js")).call(window);
  }
  if (!window.mixscopeSimplex) {
    new Function(model.get("_simplex_js")).call(window);
  }
}

function render({ model, el }) {
  install(model);
  const S = window.mixscopeSimplex;
  const stores = model.get("stores");
  const epochs = model.get("epochs");
  const kinds = model.get("kinds");
  const many = stores.length > 1;
  const root = document.createElement("div");
  root.className = "mixscope-view";
  // keys on the slider move the slider, not JupyterLab's cell selection (Lumino skips
  // shortcuts under this attribute)
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const grid = document.createElement("div");
  grid.style.display = "flex";
  grid.style.flexWrap = "wrap";
  const plots = stores.map(() => {
    const div = document.createElement("div");
    div.className = "mixscope-simplex";
    window.mixscopeViews = (window.mixscopeViews || 0) + 1;
    div.id = `mixscope-simplex-${window.mixscopeViews}`;
    grid.appendChild(div);
    return div;
  });
  const bar = document.createElement("div");
  bar.style.display = "flex";
  bar.style.alignItems = "center";
  bar.style.gap = "12px";
  const slider = document.createElement("input");
  slider.type = "range";
  slider.className = "mixscope-epoch-slider";
  slider.min = "0";
  slider.max = String(Math.max(0, epochs.length - 1));
  slider.step = "1";
  slider.style.width = many ? "60%" : "420px";
  const label = document.createElement("span");
  label.className = "mixscope-epoch-label";
  bar.append(slider, label);
  root.append(grid, bar);
  el.appendChild(root);

  function draw(index) {
    const epoch = epochs[index];
    stores.forEach((store, i) => {
      const fig = S.simplexFigure(store, epoch, kinds, null, null,
                                  {title: store.title, showEpoch: true});
      fig.layout.width = many ? 420 : 560;
      fig.layout.height = many ? 420 : 520;
      window.Plotly.react(plots[i], fig.data, fig.layout, {displaylogo: false});
    });
    slider.value = String(index);
    label.textContent = `epoch ${epoch}`;
    root.dataset.epoch = String(epoch);
  }
  slider.addEventListener("input", () => {
    const index = Number(slider.value);
    draw(index);
    model.set("epoch", epochs[index]);
    model.save_changes();
  });
  const onEpoch = () => {
    const index = epochs.indexOf(model.get("epoch"));
    if (index >= 0 && String(index) !== slider.value) { draw(index); }
  };
  model.on("change:epoch", onEpoch);
  const start = epochs.indexOf(model.get("epoch"));
  draw(start >= 0 ? start : epochs.length - 1);
  return () => {
    model.off("change:epoch", onEpoch);
    plots.forEach((p) => window.Plotly.purge(p));
  };
}

export default { render };
