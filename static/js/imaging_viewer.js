// The MRCP viewer: scroll through the slices or look at the MIP, window/level, and measure
// the distance between two clicked points. Distances are computed by the server in patient
// space (ImagePositionPatient, orientation and PixelSpacing of each point's own slice).
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const config = JSON.parse($("#viewer-config").textContent);
  const picture = $("#picture");
  const overlay = $("#overlay");
  const stage = $("#stage");
  const slider = $("#slice");
  const wcInput = $("#wc");
  const wwInput = $("#ww");
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    mode: "slices",
    slice: config.initialSlice || 0,
    window: { slices: [...config.sliceWindow], mip: config.mipWindow ? [...config.mipWindow] : null },
    points: [],
    loading: 0,
    shownKey: "",
    measuring: false,
    step: 1, // the direction of the last scroll, fetched ahead first
  };
  // Pictures fetched ahead, kept (bounded) so that the browser does not drop them before they are shown.
  const PREFETCH = 5;
  const cache = new Map();
  const CACHE_SIZE = 64;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function currentWindow() {
    return state.window[state.mode];
  }

  function imageUrl(mode, index, win) {
    const base = mode === "mip" ? config.mipUrl : config.sliceUrl.replace("{index}", String(index));
    return `${base}?wc=${win[0].toFixed(0)}&ww=${Math.max(1, win[1]).toFixed(0)}`;
  }

  // Only the newest request is shown, so fast scrolling never shows slices out of order.
  function cached(url) {
    let image = cache.get(url);
    if (image) {
      cache.delete(url); // most recently used last
    } else {
      image = new Image();
      image.decoding = "async";
      image.src = url;
    }
    cache.set(url, image);
    while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
    return image;
  }

  function display(image, url) {
    picture.src = image.src;
    state.shownKey = url;
    overlay.setAttribute("viewBox", `0 0 ${image.naturalWidth} ${image.naturalHeight}`);
    $("#stage-note").textContent = "";
    draw();
    prefetch();
  }

  function show() {
    const win = currentWindow();
    const url = imageUrl(state.mode, state.slice, win);
    updateLabels();
    updateOverlayInfo();
    if (url === state.shownKey) return;
    const ticket = ++state.loading;
    let next = cached(url);
    if (next.complete && next.naturalWidth === 0) { // fetched ahead and failed: ask again
      cache.delete(url);
      next = cached(url);
    }
    if (next.complete && next.naturalWidth > 0) {
      display(next, url);
      return;
    }
    next.addEventListener("load", () => { if (ticket === state.loading) display(next, url); }, { once: true });
    next.addEventListener("error", () => {
      cache.delete(url);
      if (ticket === state.loading) $("#stage-note").textContent = "could not load the image";
    }, { once: true });
  }

  // Fetch the slices around the one shown, nearest first and the scrolling direction before the other.
  function prefetch() {
    if (state.mode !== "slices") return;
    for (let distance = 1; distance <= PREFETCH; distance++) {
      for (const step of [state.step * distance, -state.step * distance]) {
        const index = state.slice + step;
        if (index >= 0 && index < config.slices) cached(imageUrl("slices", index, currentWindow()));
      }
    }
  }

  // The patient's direction at each edge and the scale bar, as the series' geometry gives them.
  function updateOverlayInfo() {
    const info = (config.overlay || {})[state.mode] || {};
    for (const marker of stage.querySelectorAll(".edge-marker")) {
      marker.textContent = info.markers ? info.markers[marker.dataset.edge] : "";
    }
    $("#overlay-notes").textContent = (info.notes || []).join(" ");
  }

  let pending = null;
  function showSoon() {
    if (pending) return;
    pending = requestAnimationFrame(() => { pending = null; show(); });
  }

  function updateLabels() {
    $("#slice-label").textContent = state.mode === "slices" ? `${state.slice + 1} / ${config.slices}` : "MIP";
    const win = currentWindow();
    wcInput.value = Math.round(win[0]);
    wwInput.value = Math.round(win[1]);
    slider.value = state.slice;
    slider.disabled = state.mode !== "slices";
  }

  function setSlice(index) {
    const clamped = Math.max(0, Math.min(config.slices - 1, index));
    if (clamped === state.slice && state.mode === "slices") return;
    if (clamped !== state.slice) state.step = clamped > state.slice ? 1 : -1;
    state.slice = clamped;
    showSoon();
  }

  function setMode(mode) {
    if (mode === "mip" && !config.mipUrl) return;
    if (mode !== state.mode) state.points = [];
    state.mode = mode;
    $("#mode-slices").classList.toggle("active", mode === "slices");
    $("#mode-mip").classList.toggle("active", mode === "mip");
    $("#mode-slices").setAttribute("aria-pressed", String(mode === "slices"));
    $("#mode-mip").setAttribute("aria-pressed", String(mode === "mip"));
    clearResult();
    show();
  }

  // ------------------------------------------------------------------ points

  function arrayShape() {
    return state.mode === "mip" ? config.mipShape : [config.rows, config.columns];
  }

  // A click -> (row, col) in the image array; pixel centres are whole numbers.
  function pointFromEvent(event) {
    const rect = picture.getBoundingClientRect();
    const [rows, cols] = arrayShape();
    const row = ((event.clientY - rect.top) / rect.height) * rows - 0.5;
    const col = ((event.clientX - rect.left) / rect.width) * cols - 0.5;
    if (row < -0.5 || col < -0.5 || row > rows - 0.5 || col > cols - 0.5) return null;
    const point = { row: Math.round(row * 100) / 100, col: Math.round(col * 100) / 100 };
    if (state.mode === "slices") point.slice = state.slice;
    return point;
  }

  function toDisplay(point) {
    const [rows, cols] = arrayShape();
    const width = picture.naturalWidth || cols;
    const height = picture.naturalHeight || rows;
    return [((point.col + 0.5) / cols) * width, ((point.row + 0.5) / rows) * height];
  }

  function svg(name, attributes, text) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // The measurements saved on this series: on the MIP those made on the MIP, on a slice those
  // with a point on it (the other end dashed when it lies on another slice).
  function drawSaved(scale) {
    for (const saved of config.measurements || []) {
      if ((saved.kind === "mip") !== (state.mode === "mip")) continue;
      const here = saved.points.map((p) => state.mode === "mip" || p.slice === state.slice);
      if (!here.some(Boolean)) continue;
      const [a, b] = saved.points.map(toDisplay);
      const group = svg("g", { class: "saved-measure", "data-testid": "saved-measure" });
      group.append(svg("line", {
        x1: a[0], y1: a[1], x2: b[0], y2: b[1], "stroke-width": 1.5 * scale,
        class: here.every(Boolean) ? "saved-line" : "saved-line elsewhere",
      }));
      const label = `${saved.label || "distance"} ${saved.lengthMm.toFixed(1)} mm`;
      group.append(svg("text", {
        x: (a[0] + b[0]) / 2 + 6 * scale, y: (a[1] + b[1]) / 2 - 6 * scale, "font-size": 13 * scale, class: "saved-text",
      }, label));
      overlay.append(group);
    }
  }

  function drawScaleBar(scale) {
    const info = (config.overlay || {})[state.mode] || {};
    const width = picture.naturalWidth, height = picture.naturalHeight;
    if (!info.scale || !width || !height) return;
    const length = info.scale.fraction * width;
    const right = width - 12 * scale, bottom = height - 12 * scale;
    const group = svg("g", { class: "scale-bar", "data-testid": "scale-bar" });
    group.append(svg("line", { x1: right - length, y1: bottom, x2: right, y2: bottom, "stroke-width": 3 * scale }));
    group.append(svg("text", {
      x: right - length / 2, y: bottom - 6 * scale, "text-anchor": "middle", "font-size": 12 * scale,
    }, info.scale.label));
    overlay.append(group);
  }

  // The duct tree proposed from this series, on the MIP: each duct's centre-line with its label and
  // length; an uncertain duct dashed and said so in its label.
  function drawTree(scale) {
    const toggle = $("#show-tree");
    if (state.mode !== "mip" || !toggle || !toggle.checked) return;
    for (const duct of config.tree || []) {
      if (!duct.points.length) continue;
      const xy = duct.points.map(([row, col]) => toDisplay({ row, col }));
      const group = svg("g", { class: duct.uncertain ? "tree-duct uncertain" : "tree-duct", "data-testid": "tree-duct", "data-duct": duct.id });
      const line = svg("polyline", { points: xy.map((p) => p.join(",")).join(" "), "stroke-width": 2 * scale, fill: "none" });
      if (duct.uncertain) line.setAttribute("stroke-dasharray", `${6 * scale} ${4 * scale}`);
      group.append(line);
      // Where the label goes was chosen with the anatomy page's drawing, so labels do not cover one another.
      const [x, y] = toDisplay({ row: duct.labelAt[0], col: duct.labelAt[1] });
      const font = config.treeFont ? config.treeFont * (picture.naturalWidth || 512) : 11 * scale;
      group.append(svg("text", { x, y, "font-size": font, class: "tree-text", "text-anchor": duct.labelAnchor }, duct.label));
      overlay.append(group);
    }
  }

  function draw() {
    overlay.replaceChildren();
    const scale = (picture.naturalWidth || 512) / 512;
    drawScaleBar(scale);
    drawTree(scale);
    drawSaved(scale);
    const shown = state.points.map((p) => ({ p, here: state.mode === "mip" || p.slice === state.slice, xy: toDisplay(p) }));
    if (shown.length === 2) {
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", shown[0].xy[0]); line.setAttribute("y1", shown[0].xy[1]);
      line.setAttribute("x2", shown[1].xy[0]); line.setAttribute("y2", shown[1].xy[1]);
      line.setAttribute("class", shown.every((s) => s.here) ? "measure-line" : "measure-line elsewhere");
      line.setAttribute("stroke-width", 1.5 * scale);
      overlay.append(line);
    }
    shown.forEach((s, i) => {
      const circle = document.createElementNS(SVG, "circle");
      circle.setAttribute("cx", s.xy[0]); circle.setAttribute("cy", s.xy[1]); circle.setAttribute("r", 4 * scale);
      circle.setAttribute("class", s.here ? "measure-point" : "measure-point elsewhere");
      circle.setAttribute("stroke-width", 1.5 * scale);
      overlay.append(circle);
      // The label goes on the far side of the point from the other point, off the line.
      const other = shown[1 - i];
      let dx = 0.7, dy = -0.7;
      if (other) {
        const length = Math.hypot(s.xy[0] - other.xy[0], s.xy[1] - other.xy[1]) || 1;
        dx = (s.xy[0] - other.xy[0]) / length; dy = (s.xy[1] - other.xy[1]) / length;
      }
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", s.xy[0] + dx * 10 * scale); text.setAttribute("y", s.xy[1] + dy * 10 * scale + 4 * scale);
      text.setAttribute("text-anchor", dx >= 0 ? "start" : "end");
      text.setAttribute("font-size", 13 * scale);
      text.setAttribute("class", "measure-text");
      text.textContent = (i ? "B" : "A") + (s.here ? "" : ` (slice ${s.p.slice + 1})`);
      overlay.append(text);
    });
  }

  function describe(point) {
    if (!point) return "—";
    const where = state.mode === "mip" ? "MIP" : `slice ${point.slice + 1}`;
    return `${where}, row ${point.row.toFixed(1)}, column ${point.col.toFixed(1)}`;
  }

  function clearResult() {
    $("#point-a").textContent = state.points[0] ? describe(state.points[0]) : "click on the image";
    $("#point-b").textContent = describe(state.points[1]);
    $("#distance").textContent = "—";
    $("#measure-errors").textContent = "";
    const save = $("#save-button");
    if (save) save.disabled = true;
    draw();
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error ? data.error.message : `refused (${response.status})`);
    return data;
  }

  async function computeDistance() {
    try {
      const result = await post(config.distanceUrl, { kind: state.mode, points: state.points });
      $("#distance").textContent = `${result.length_mm.toFixed(1)} mm`;
      if (state.mode === "mip") {
        // Each MIP point sits at the depth of the brightest voxel under it: say which slice.
        result.points.forEach((p, i) => {
          $(i ? "#point-b" : "#point-a").textContent = `${describe(state.points[i])} → slice ${p.slice + 1}`;
        });
      }
      const save = $("#save-button");
      if (save) save.disabled = false;
    } catch (error) {
      $("#measure-errors").textContent = error.message;
    }
  }

  function addPoint(point) {
    if (state.points.length === 2) state.points = [];
    state.points.push(point);
    clearResult();
    if (state.points.length === 2) computeDistance();
  }

  // ------------------------------------------------------------------ input

  // Points are placed only by a click in measure mode: focusing the image (by a click or the
  // keyboard) only lets it take the keys.
  function setMeasuring(on) {
    state.measuring = Boolean(on);
    const button = $("#mode-measure");
    button.setAttribute("aria-pressed", String(state.measuring));
    button.classList.toggle("active", state.measuring);
    stage.classList.toggle("measuring", state.measuring);
  }

  let drag = null;
  stage.addEventListener("contextmenu", (event) => event.preventDefault());
  stage.addEventListener("pointerdown", (event) => {
    stage.focus({ preventScroll: true });
    if (event.button === 2 || (event.button === 0 && event.shiftKey)) {
      drag = { x: event.clientX, y: event.clientY, window: [...currentWindow()] };
      stage.setPointerCapture(event.pointerId);
      event.preventDefault();
    }
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const step = Math.max(drag.window[1], 10) / 256;
    const win = state.window[state.mode];
    win[1] = Math.max(1, drag.window[1] + (event.clientX - drag.x) * step);
    win[0] = drag.window[0] - (event.clientY - drag.y) * step;
    updateLabels();
    showSoon();
  });
  stage.addEventListener("pointerup", (event) => {
    if (drag) { drag = null; return; }
    if (event.button !== 0 || !state.measuring) return;
    const point = pointFromEvent(event);
    if (point) addPoint(point);
  });
  stage.addEventListener("wheel", (event) => {
    if (state.mode !== "slices") return;
    event.preventDefault();
    setSlice(state.slice + (event.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  stage.addEventListener("keydown", (event) => {
    const moves = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10, PageUp: -10 };
    if (event.key in moves && state.mode === "slices") setSlice(state.slice + moves[event.key]);
    else if (event.key === "Home") setSlice(0);
    else if (event.key === "End") setSlice(config.slices - 1);
    else if (event.key === "m" || event.key === "M") setMode(state.mode === "mip" ? "slices" : "mip");
    else if (event.key === "d" || event.key === "D") setMeasuring(!state.measuring);
    else if (event.key === "Escape") { state.points = []; clearResult(); }
    else return;
    event.preventDefault();
  });
  slider.addEventListener("input", () => setSlice(Number(slider.value)));
  for (const input of [wcInput, wwInput]) {
    input.addEventListener("change", () => {
      const center = Number(wcInput.value), width = Number(wwInput.value);
      if (Number.isFinite(center) && Number.isFinite(width) && width >= 1) {
        state.window[state.mode] = [center, width];
        show();
      }
    });
  }
  $("#window-reset").addEventListener("click", () => {
    state.window[state.mode] = state.mode === "mip" ? [...config.mipWindow] : [...config.sliceWindow];
    show();
  });
  $("#mode-slices").addEventListener("click", () => setMode("slices"));
  $("#mode-mip").addEventListener("click", () => setMode("mip"));
  if ($("#show-tree")) $("#show-tree").addEventListener("change", () => draw());
  $("#mode-measure").addEventListener("click", () => setMeasuring(!state.measuring));
  window.addEventListener("resize", draw);

  // ------------------------------------------------------------------ saving

  const table = $("#measurements tbody");
  function showSaved(row) {
    const points = JSON.parse(row.dataset.points);
    setMode(row.dataset.kind === "mip" ? "mip" : "slices");
    state.points = points.map((p) => ({ row: p.row, col: p.col, slice: p.slice }));
    if (row.dataset.kind !== "mip") state.slice = points[0].slice;
    clearResult();
    $("#distance").textContent = `${row.children[1].textContent} mm (saved)`;
    show();
  }
  table.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-points]");
    if (row) showSaved(row);
  });

  const form = $("#save-measurement");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (state.points.length !== 2) return;
      try {
        const saved = await post(config.measurementsUrl, {
          series: config.seriesId, kind: state.mode, points: state.points, label: $("#measurement-label").value,
        });
        $(".empty", table)?.remove();
        const row = document.createElement("tr");
        row.dataset.points = JSON.stringify(saved.points);
        row.dataset.kind = saved.kind;
        row.tabIndex = 0;
        for (const text of [saved.label || "—", saved.length_mm.toFixed(1), saved.kind === "mip" ? "On the MIP" : "On the slices", saved.created_by]) {
          const td = document.createElement("td");
          td.textContent = text;
          row.append(td);
        }
        table.prepend(row);
        config.measurements = [
          { label: saved.label, lengthMm: saved.length_mm, kind: saved.kind, points: saved.points },
          ...(config.measurements || []),
        ];
        draw();
        $("#save-button").disabled = true;
        $("#measurement-label").value = "";
      } catch (error) {
        $("#measure-errors").textContent = error.message;
      }
    });
  }

  show();
  // The keys scroll at once: the image takes the focus when the page opens.
  stage.focus({ preventScroll: true });
})();
