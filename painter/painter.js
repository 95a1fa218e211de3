// Facade painter: paint a CMP label on a 256x256 canvas, send it to POST /generate, show the facade.
// Plain browser JavaScript, no libraries and no build step; served by facade_painter.py.
"use strict";

(() => {
  const MAX_UNDO = 50;
  const BRUSH_SIZES = [2, 4, 8, 16, 32];
  const $ = (id) => document.getElementById(id);

  const canvas = $("label");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const state = {
    size: canvas.width,
    classes: [],      // [{index, name, rgb}] from /palette.json (facades_generator.FACADE_CLASSES)
    colour: null,     // "rgb(r, g, b)" of the selected class
    tool: "rect",
    undo: [],         // ImageData snapshots taken before each change
    stroke: null,     // the drag in progress: {start, last, before}
    modelReady: false,
    busy: false,      // a /generate request is in flight
    again: false,     // the label changed while it was: generate once more when it returns
    resultUrl: null,
    painted: false,   // the student changed the label since it was last downloaded: ask before leaving
    generation: 0,
  };

  function setStatus(text, isError = false) {
    $("status").textContent = text;
    $("status").classList.toggle("error", isError);
  }

  async function fetchOk(url, options) {
    const response = await fetch(url, options);
    if (!response.ok) throw new Error((await response.text()) || `${url} answered ${response.status}`);
    return response;
  }

  // ---- palette and tools ------------------------------------------------------------------------
  function buildPalette() {
    for (const cls of state.classes) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "swatch";
      button.dataset.index = cls.index;
      button.title = `Class ${cls.index}: ${cls.name}, RGB ${cls.rgb.join(", ")}`;
      button.setAttribute("aria-pressed", "false");
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.style.background = rgbString(cls.rgb);
      chip.setAttribute("aria-hidden", "true");
      button.append(chip, cls.name);
      button.addEventListener("click", () => selectClass(cls.index));
      $("palette").append(button);
    }
  }

  const rgbString = (rgb) => `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;

  function selectClass(index) {
    const cls = state.classes.find((c) => c.index === index);
    state.colour = rgbString(cls.rgb);
    for (const b of $("palette").children) b.setAttribute("aria-pressed", String(Number(b.dataset.index) === index));
  }

  function selectTool(tool) {
    state.tool = tool;
    $("tool-rect").setAttribute("aria-pressed", String(tool === "rect"));
    $("tool-brush").setAttribute("aria-pressed", String(tool === "brush"));
  }

  function stepBrush(direction) {
    const select = $("brush-size");
    const i = BRUSH_SIZES.indexOf(Number(select.value)) + direction;
    select.value = String(BRUSH_SIZES[Math.max(0, Math.min(BRUSH_SIZES.length - 1, i))]);
  }

  // ---- drawing: only fillRect with whole-pixel coordinates, so every pixel is an exact palette colour
  function pushUndo() {
    state.undo.push(ctx.getImageData(0, 0, state.size, state.size));
    if (state.undo.length > MAX_UNDO) state.undo.shift();
    $("undo").disabled = false;
    return state.undo[state.undo.length - 1];
  }

  function undo() {
    const snapshot = state.undo.pop();
    $("undo").disabled = state.undo.length === 0;
    if (snapshot) {
      ctx.putImageData(snapshot, 0, 0);
      labelChanged();
    }
  }

  function fillWith(rgb) {
    ctx.fillStyle = rgbString(rgb);
    ctx.fillRect(0, 0, state.size, state.size);
  }

  function canvasPoint(event) {
    // The canvas is shown at any size (CSS): map the pointer back to a whole label pixel.
    const box = canvas.getBoundingClientRect();
    const clamp = (v) => Math.max(0, Math.min(state.size - 1, v));
    return {
      x: clamp(Math.floor(((event.clientX - box.left) * state.size) / box.width)),
      y: clamp(Math.floor(((event.clientY - box.top) * state.size) / box.height)),
    };
  }

  function fillBox(a, b) {
    ctx.fillStyle = state.colour;
    const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
    ctx.fillRect(x, y, Math.abs(a.x - b.x) + 1, Math.abs(a.y - b.y) + 1);
  }

  function dab(p) {
    const size = Number($("brush-size").value);
    const half = Math.floor(size / 2);
    ctx.fillStyle = state.colour;
    ctx.fillRect(p.x - half, p.y - half, size, size); // a square: round brushes would antialias their edge
  }

  function brushLine(a, b) {
    // A fast drag skips pixels between pointer events: stamp every pixel step in between.
    const steps = Math.max(Math.abs(b.x - a.x), Math.abs(b.y - a.y), 1);
    for (let i = 1; i <= steps; i++) {
      dab({ x: Math.round(a.x + ((b.x - a.x) * i) / steps), y: Math.round(a.y + ((b.y - a.y) * i) / steps) });
    }
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    canvas.setPointerCapture(event.pointerId);
    const p = canvasPoint(event);
    state.stroke = { start: p, last: p, before: pushUndo() };
    if (state.tool === "rect") fillBox(p, p);
    else dab(p);
  });

  canvas.addEventListener("pointermove", (event) => {
    const stroke = state.stroke;
    if (!stroke) return;
    const p = canvasPoint(event);
    if (state.tool === "rect") {
      ctx.putImageData(stroke.before, 0, 0); // redraw the rectangle from its corner as it grows
      fillBox(stroke.start, p);
    } else {
      brushLine(stroke.last, p);
    }
    stroke.last = p;
  });

  function endStroke() {
    if (!state.stroke) return;
    state.stroke = null;
    state.painted = true;
    labelChanged();
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  function labelChanged() {
    if ($("auto-generate").checked) generate();
  }

  // ---- loading labels from the server ----------------------------------------------------------
  async function loadLabel(url) {
    const response = await fetchOk(url);
    // colorSpaceConversion "none": the label's colours must reach the canvas unchanged.
    const bitmap = await createImageBitmap(await response.blob(), { colorSpaceConversion: "none" });
    pushUndo();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(bitmap, 0, 0, state.size, state.size);
    bitmap.close();
    labelChanged();
    return response;
  }

  async function loadSample() {
    const name = $("sample-select").value;
    await loadLabel(`samples/${encodeURIComponent(name)}.png`);
    $("design-line").hidden = true;
    setStatus(`Loaded the sample label ${name}.`);
  }

  async function loadRandom() {
    const response = await loadLabel("random");
    const design = response.headers.get("X-Facade-Design");
    $("design-command").textContent = `python exercise2_explore.py --design '${design}'`;
    $("design-line").hidden = false;
    setStatus("Loaded a random facade label.");
  }

  // ---- generating -------------------------------------------------------------------------------
  async function generate() {
    if (!state.modelReady) {
      setStatus("Generating needs the pretrained weights: run python download_pretrained.py, then restart.", true);
      return;
    }
    if (state.busy) {
      state.again = true;
      return;
    }
    state.busy = true;
    $("generate").disabled = true;
    setStatus("Generating…");
    const started = performance.now();
    try {
      const label = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      const response = await fetchOk("generate", {
        method: "POST", headers: { "Content-Type": "image/png" }, body: label,
      });
      showResult(await response.blob());
      const total = ((performance.now() - started) / 1000).toFixed(2);
      setStatus(`Generated in ${total} s (the model itself: ${response.headers.get("X-Inference-Seconds")} s).`);
    } catch (error) {
      setStatus(`Generate failed: ${error.message}`, true);
    } finally {
      state.busy = false;
      $("generate").disabled = false;
      if (state.again) {
        state.again = false;
        generate();
      }
    }
  }

  function showResult(blob) {
    if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
    state.resultUrl = URL.createObjectURL(blob);
    const img = $("result");
    img.onload = () => { img.dataset.generation = String(++state.generation); };
    img.src = state.resultUrl;
    img.hidden = false;
    $("result-placeholder").hidden = true;
    $("download-result").disabled = false;
  }

  function download(url, filename) {
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
  }

  function downloadLabel() {
    state.painted = false;
    canvas.toBlob((blob) => {
      const url = URL.createObjectURL(blob);
      download(url, "facade_label.png");
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    }, "image/png");
  }

  // ---- wiring -----------------------------------------------------------------------------------
  function reportErrors(action) {
    return () => action().catch((error) => setStatus(error.message, true));
  }

  $("tool-rect").addEventListener("click", () => selectTool("rect"));
  $("tool-brush").addEventListener("click", () => selectTool("brush"));
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", () => {
    pushUndo();
    fillWith(state.classes[0].rgb);
    labelChanged();
  });
  $("load-sample").addEventListener("click", reportErrors(loadSample));
  $("random").addEventListener("click", reportErrors(loadRandom));
  $("generate").addEventListener("click", generate);
  $("download-label").addEventListener("click", downloadLabel);
  $("download-result").addEventListener("click", () => download(state.resultUrl, "generated_facade.png"));

  // A reload, Back or closed tab would throw a painted label away: the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (state.painted) event.preventDefault();
  });

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input:not([type=checkbox]), select, textarea")) return; // their keys are their own
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") {
      event.preventDefault();
      undo();
    } else if (!event.ctrlKey && !event.metaKey && !event.altKey) {
      const actions = { r: () => selectTool("rect"), b: () => selectTool("brush"), g: generate,
                        "[": () => stepBrush(-1), "]": () => stepBrush(1) };
      if (actions[key]) actions[key]();
    }
  });

  async function init() {
    const [palette, samples, status] = await Promise.all(
      ["palette.json", "samples.json", "status.json"].map((url) => fetchOk(url).then((r) => r.json())));
    state.classes = palette.classes;
    buildPalette();
    selectClass(state.classes.find((c) => c.name === "window").index);
    for (const name of samples.samples) $("sample-select").append(new Option(name.replaceAll("_", " "), name));
    state.modelReady = status.ready;
    if (!status.ready) {
      $("weights-message").textContent = status.message;
      $("weights-banner").hidden = false;
      $("generate").disabled = true;
    }
    fillWith(state.classes[0].rgb);
    if (samples.samples.length) {
      await loadLabel(`samples/${encodeURIComponent(samples.samples[0])}.png`);
      state.undo = [];
      $("undo").disabled = true;
    }
    setStatus(status.ready ? "Ready: paint, then press Generate." : "Ready to paint; generating needs the weights.");
    document.body.dataset.ready = "true";
  }

  init().catch((error) => setStatus(`The painter could not start: ${error.message}`, true));
})();
