// The explorers of vae_lite.widgets and vae_lite.drawing, drawn in the page: every slider, button and
// stroke redraws here at once, from the state the kernel stored (the weights of the networks, the
// test images' codes, the fixed draws of eps). Nothing waits for a kernel, so the same module works
// in JupyterLab and on the static site, where there is none. The kernel hears of each move (the
// values it reads in Python), but the picture never waits for it.
// The networks and formulas are in networks.js (this module is served after it, as one).

const NS = "http://www.w3.org/2000/svg";
const BLUE = "#3f90da", ORANGE = "#ffa90e", GREY = "#94a4a2"; // matplotlib's petroff10, as the PNG stills

function h(tag, attributes = {}, children = []) {
  const node = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "style") Object.assign(node.style, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of [].concat(children)) node.append(child);
  return node;
}

const fixed = (v, digits = 2) => (Object.is(Math.round(v * 10 ** digits), -0) ? 0 : v).toFixed(digits);

// a labelled slider: an <input type=range>, so the arrow keys, Home and End move it
function slider(label, { min, max, step, value }, oninput) {
  const input = h("input", { type: "range", min, max, step, "aria-label": label, class: "vae-lite-slider" });
  input.value = value;
  const readout = h("output", { class: "vae-lite-readout", text: fixed(+input.value) });
  input.addEventListener("input", () => { readout.textContent = fixed(+input.value); oninput(+input.value); });
  const row = h("label", { class: "vae-lite-slider-row" }, [h("span", { class: "vae-lite-label", text: label }), input, readout]);
  const set = (v) => { input.value = v; readout.textContent = fixed(+input.value); };
  return { row, input, set };
}

// an image of (height, width) pixels in 0..1 as black ink on white, each pixel `scale` screen pixels
function picture(height, width, scale, alt, className = "") {
  const canvas = h("canvas", { width, height, role: "img", "aria-label": alt, class: `vae-lite-picture ${className}` });
  Object.assign(canvas.style, { width: `${width * scale}px`, height: `${height * scale}px`, imageRendering: "pixelated",
    border: "1px solid #ccc" });
  return canvas;
}

function paint(canvas, pixels) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < pixels.length; i++) {
    const grey = Math.round(255 * (1 - Math.min(1, Math.max(0, pixels[i])))); // as vae_lite.widgets.png_bytes
    image.data.set([grey, grey, grey, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  canvas.dispatchEvent(new Event("drawn")); // for the browser tests' timing
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// what the page computed last, for the browser tests to compare with PyTorch
function record(el, values) {
  el.dataset.state = JSON.stringify(values, (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v));
}

// a network stored once per page in a Network widget, which the explorers name by its id
const networks = new WeakMap();
async function network(model, name) {
  const reference = model.get(name);
  const stored = await model.widget_manager.get_model(reference.slice("IPY_MODEL_".length));
  if (!networks.has(stored)) networks.set(stored, layersOf(stored.get("layers")));
  return networks.get(stored);
}

// the kernel's copy of a value: sent when there is a kernel, kept in the page when there is none
function tell(model, name, value) {
  model.set(name, value);
  model.save_changes();
}

// ----------------------------------------------------------------- a small plotting helper (SVG)

function axes(svg, box, [x0, x1], [y0, y1], { xlabel = "", ylabel = "", xticks = [], yticks = [], xticklabels } = {}) {
  const [left, top, width, height] = box;
  const x = (v) => left + ((v - x0) / (x1 - x0)) * width;
  const y = (v) => top + height - ((v - y0) / (y1 - y0)) * height;
  const frame = h("svg:g", { class: "axes" });
  frame.append(h("svg:rect", { x: left, y: top, width, height, fill: "none", stroke: "#444" }));
  xticks.forEach((t, i) => {
    frame.append(h("svg:line", { x1: x(t), x2: x(t), y1: top + height, y2: top + height + 5, stroke: "#444" }));
    frame.append(h("svg:text", { x: x(t), y: top + height + 20, "text-anchor": "middle", "font-size": 14,
      text: xticklabels ? xticklabels[i] : `${t}` }));
  });
  yticks.forEach((t) => {
    frame.append(h("svg:line", { x1: left - 5, x2: left, y1: y(t), y2: y(t), stroke: "#444" }));
    frame.append(h("svg:text", { x: left - 8, y: y(t) + 5, "text-anchor": "end", "font-size": 14, text: fixed(t, 1) }));
  });
  if (xlabel) frame.append(h("svg:text", { x: left + width / 2, y: top + height + 40, "text-anchor": "middle", "font-size": 15, text: xlabel }));
  const ylabelX = left - (yticks.length ? 52 : 14);  // clear of the tick labels, when there are any
  if (ylabel) frame.append(h("svg:text", { x: ylabelX, y: top + height / 2, "text-anchor": "middle", "font-size": 15,
    transform: `rotate(-90 ${ylabelX} ${top + height / 2})`, text: ylabel }));
  svg.append(frame);
  const path = (xs, ys) => xs.map((v, i) => `${i ? "L" : "M"}${x(v).toFixed(1)},${y(ys[i]).toFixed(1)}`).join("");
  return { x, y, path, frame };
}

function legend(svg, x, y, entries) {
  entries.forEach(([colour, text, kind], i) => {
    const row = y + 22 * i;
    svg.append(kind === "box" ? h("svg:rect", { x, y: row - 10, width: 22, height: 12, fill: colour, opacity: 0.5 })
      : h("svg:line", { x1: x, x2: x + 22, y1: row - 4, y2: row - 4, stroke: colour, "stroke-width": kind === "bar" ? 3 : 2.5 }));
    svg.append(h("svg:text", { x: x + 30, y: row + 1, "font-size": 14, text }));
  });
}

const linspace = (a, b, n) => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
const density = (x, mu, sigma) => Math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * Math.sqrt(2 * Math.PI));

function figure(alt, width = 1000, height = 400) {
  return h("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": alt,
    class: "vae-lite-picture", style: { width: "100%", maxWidth: `${width}px`, fontFamily: "sans-serif" } });
}

// ------------------------------------------------------------------------------ the explorers

// one slider per latent dimension; the decoder runs in the page at every move
async function latent(model, el) {
  const decoder = await network(model, "decoder");
  const [height, width] = model.get("image_size");
  const dims = model.get("dims"), start = model.get("start_z");
  let values = [...model.get("values")], moved = null;
  const canvas = picture(height, width, model.get("scale"), "the decoder's image of z", "vae-lite-decoded");
  const caption = h("div", { class: "vae-lite-caption", "aria-live": "polite" });
  function draw() {
    const z = [...start];
    dims.forEach((d, k) => { z[d] = values[k]; });
    const x = run(decoder, z).map(sigmoid);
    paint(canvas, x);
    const ink = mean(x);
    caption.textContent = moved === null ? `decoded z; mean ink ${fixed(ink, 3)}`
      : `z[${dims[moved]}] = ${fixed(values[moved])}; mean ink ${fixed(ink, 3)}`;
    record(el, { z, x, ink });
  }
  const sliders = dims.map((d, k) => slider(model.get("labels")[k],
    { min: -model.get("limit"), max: model.get("limit"), step: model.get("step"), value: values[k] }, (v) => {
      values[k] = v; moved = k; draw(); tell(model, "values", [...values]);
    }));
  const reset = h("button", { text: "reset", onclick: () => {
    values = [...model.get("reset_values")]; moved = null;
    sliders.forEach((s, k) => s.set(values[k])); draw(); tell(model, "values", [...values]);
  } });
  model.on("change:values", () => { // the kernel set them (reset() in Python, or a test)
    const sent = model.get("values");
    if (sent.every((v, k) => v === values[k])) return;
    values = [...sent]; sliders.forEach((s, k) => s.set(values[k])); draw();
  });
  el.append(h("div", { class: "vae-lite-row" }, [
    h("div", {}, [h("div", { class: "vae-lite-heading", text: model.get("heading") }), ...sliders.map((s) => s.row), reset]),
    h("div", {}, [canvas, caption])]));
  draw();
}

// z(t) = (1 - t) mu(A) + t mu(B) between two test images
async function interpolation(model, el) {
  const decoder = await network(model, "decoder");
  const [height, width] = model.get("image_size"), scale = model.get("scale");
  const indices = model.get("bank_indices"), d = model.get("latent_dim");
  const images = floats(model.get("bank_images"), "uint8"), means = floats(model.get("bank_means"));
  const size = height * width;
  const mu = (k) => means.subarray(k * d, (k + 1) * d);
  const canvases = ["image A", "the decoded z(t)", "image B"].map((alt, i) =>
    picture(height, width, scale, alt, i === 1 ? "vae-lite-decoded" : ""));
  const caption = h("div", { class: "vae-lite-caption", "aria-live": "polite" });
  let t = model.get("t");
  const choose = (name) => {
    const select = h("select", { "aria-label": name, onchange: () => {
      tell(model, name === "image A" ? "first" : "second", indices[+select.value]); draw();
    } }, indices.map((index, k) => h("option", { value: k, text: `test image ${index}` })));
    select.value = indices.indexOf(model.get(name === "image A" ? "first" : "second"));
    return select;
  };
  const [selectA, selectB] = [choose("image A"), choose("image B")];
  function draw() {
    const a = +selectA.value, b = +selectB.value;
    const z = Array.from(mu(a), (v, i) => (1 - t) * v + t * mu(b)[i]);
    paint(canvases[0], images.subarray(a * size, (a + 1) * size));
    paint(canvases[2], images.subarray(b * size, (b + 1) * size));
    const x = run(decoder, z).map(sigmoid);
    paint(canvases[1], x);
    const distance = Math.hypot(...z.map((v, i) => v - mu(a)[i]));
    caption.textContent = `t = ${fixed(t)}: z = ${fixed(1 - t)} μ(A) + ${fixed(t)} μ(B); distance from μ(A) ${fixed(distance)}`;
    record(el, { z, x, t, a: images.subarray(a * size, (a + 1) * size), b: images.subarray(b * size, (b + 1) * size) });
  }
  const s = slider("t (A to B)", { min: 0, max: 1, step: model.get("step"), value: t }, (v) => { t = v; draw(); tell(model, "t", v); });
  model.on("change:t", () => { if (model.get("t") !== t) { t = model.get("t"); s.set(t); draw(); } });
  const labelled = (text, node) => h("div", { class: "vae-lite-column" }, [h("div", { text }), node]);
  el.append(h("div", { class: "vae-lite-row" }, [labelled("image A", selectA), labelled("image B", selectB)]), s.row,
    h("div", { class: "vae-lite-row" }, [labelled("image A", canvases[0]), labelled("decoded z(t)", canvases[1]),
      labelled("image B", canvases[2])]), caption);
  draw();
}

// KL(N(mu, sigma^2) || N(0, 1)): closed form, and a Monte Carlo estimate from fixed draws eps
function kl(model, el) {
  const eps = floats(model.get("eps"));
  let mu = model.get("mu"), sigma = model.get("sigma");
  const svg = figure("the prior N(0, 1) and q = N(mu, sigma squared), with KL(q || p) in the title", 1000, 400);
  const numbers = h("div", { class: "vae-lite-numbers", "aria-live": "polite" });
  function compute() {
    const closed = klStandardNormal([mu], [2 * Math.log(sigma)]);
    // KL = E_q[log q(z) - log p(z)], z = mu + sigma eps:  log q - log p = -eps^2/2 - log sigma + z^2/2
    const ratios = Array.from(eps, (e) => -0.5 * e * e - Math.log(sigma) + 0.5 * (mu + sigma * e) ** 2);
    const m = mean(ratios);
    const sd = Math.sqrt(ratios.reduce((a, r) => a + (r - m) ** 2, 0) / (ratios.length - 1));
    return { closed, monte_carlo: m, standard_error: sd / Math.sqrt(ratios.length) };
  }
  function draw() {
    const result = compute();
    const xs = linspace(-6, 6, 400), q = xs.map((x) => density(x, mu, sigma));
    svg.replaceChildren();
    const top = Math.max(0.45, 1.05 * Math.max(...q));
    const ax = axes(svg, [70, 50, 910, 290], [-6, 6], [0, top], { xlabel: "z", xticks: [-6, -4, -2, 0, 2, 4, 6],
      yticks: linspace(0, top, 4) });
    svg.append(h("svg:path", { d: `${ax.path(xs, q)}L${ax.x(6)},${ax.y(0)}L${ax.x(-6)},${ax.y(0)}Z`, fill: BLUE, opacity: 0.15 }));
    svg.append(h("svg:path", { d: ax.path(xs, xs.map((x) => density(x, 0, 1))), fill: "none", stroke: GREY, "stroke-width": 2.5 }));
    svg.append(h("svg:path", { d: ax.path(xs, q), fill: "none", stroke: BLUE, "stroke-width": 2.5 }));
    legend(svg, 90, 80, [[GREY, "prior p(z) = N(0, 1)"], [BLUE, "q(z) = N(μ, σ²)"]]);
    svg.append(h("svg:text", { x: 525, y: 35, "text-anchor": "middle", "font-size": 18,
      text: `q = N(${fixed(mu)}, ${fixed(sigma)}²):  KL(q || p) = ${fixed(result.closed, 3)} nats` }));
    numbers.innerHTML = `closed form ½(μ² + σ² − log σ² − 1) = <b>${fixed(result.closed, 4)}</b> nats; Monte Carlo with ` +
      `${eps.length} samples of q: ${fixed(result.monte_carlo, 4)} ± ${fixed(result.standard_error, 4)}`;
    record(el, { ...result, mu, sigma });
    svg.dispatchEvent(new Event("drawn"));
  }
  const sliders = [
    slider("mu", { min: -3, max: 3, step: 0.05, value: mu }, (v) => { mu = v; draw(); tell(model, "mu", v); }),
    slider("sigma", { min: 0.1, max: 3, step: 0.05, value: sigma }, (v) => { sigma = v; draw(); tell(model, "sigma", v); }),
  ];
  model.on("change:mu change:sigma", () => {
    if (model.get("mu") === mu && model.get("sigma") === sigma) return;
    [mu, sigma] = [model.get("mu"), model.get("sigma")];
    sliders[0].set(mu); sliders[1].set(sigma); draw();
  });
  el.append(...sliders.map((s) => s.row), svg, numbers);
  draw();
}

// z = mu + sigma eps, and two estimates of the gradient of E[z^2] with respect to mu and sigma
function reparameterization(model, el) {
  const bank = floats(model.get("eps")), samples = model.get("samples"), seeds = bank.length / samples;
  let mu = model.get("mu"), sigma = model.get("sigma"), seed = model.get("seed");
  const svg = figure("left: a histogram of the samples z = mu + sigma eps and the density of N(mu, sigma squared); " +
    "right: the pathwise and score-function estimates of the gradient of E[z squared], with the exact values", 1000, 400);
  const numbers = h("div", { class: "vae-lite-numbers", "aria-live": "polite" });
  const stats = (xs) => {
    const m = mean(xs);
    return [m, Math.sqrt(xs.reduce((a, v) => a + (v - m) ** 2, 0) / (xs.length - 1) / xs.length)];
  };
  function compute() {
    const eps = bank.subarray((seed % seeds) * samples, (seed % seeds + 1) * samples);
    const z = Array.from(eps, (e) => mu + sigma * e);
    // pathwise: d/dmu f(z) = f'(z), d/dsigma f(z) = f'(z) eps; score function: f(z) d/dtheta log q(z)
    const [pmu, psmu] = stats(z.map((v) => 2 * v)), [psig, pssig] = stats(z.map((v, i) => 2 * v * eps[i]));
    const [smu, ssmu] = stats(z.map((v, i) => (v * v * eps[i]) / sigma));
    const [ssig, sssig] = stats(z.map((v, i) => (v * v * (eps[i] ** 2 - 1)) / sigma));
    return { z, exact: [2 * mu, 2 * sigma], pathwise: [pmu, psig, psmu, pssig], "score function": [smu, ssig, ssmu, sssig] };
  }
  function draw() {
    const r = compute();
    svg.replaceChildren();
    const bins = linspace(-7, 7, 57), width = bins[1] - bins[0], counts = new Array(56).fill(0);
    r.z.forEach((v) => { const b = Math.floor((v + 7) / width); if (b >= 0 && b < 56) counts[b] += 1; });
    const heights = counts.map((c) => c / (r.z.length * width));
    const xs = linspace(-7, 7, 300), q = xs.map((x) => density(x, mu, sigma));
    const top = 1.3 * Math.max(...heights, ...q);
    const left = axes(svg, [50, 50, 520, 290], [-7, 7], [0, top], { xlabel: "z", ylabel: "density", xticks: [-6, -4, -2, 0, 2, 4, 6] });
    heights.forEach((v, b) => svg.append(h("svg:rect", { x: left.x(bins[b]), y: left.y(v), width: left.x(bins[b + 1]) - left.x(bins[b]),
      height: left.y(0) - left.y(v), fill: BLUE, opacity: 0.4 })));
    svg.append(h("svg:path", { d: left.path(xs, q), fill: "none", stroke: BLUE, "stroke-width": 2.5 }));
    legend(svg, 65, 80, [[BLUE, `${r.z.length} samples z = μ + σ·ε`, "box"], [BLUE, "N(μ, σ²)"]]);
    svg.append(h("svg:text", { x: 310, y: 35, "text-anchor": "middle", "font-size": 17,
      text: `μ = ${fixed(mu)}, σ = ${fixed(sigma)} (ε seed ${seed})` }));
    const bars = [...r.pathwise.slice(0, 2).map((v, i) => [v, r.pathwise[i + 2]]),
      ...r["score function"].slice(0, 2).map((v, i) => [v, r["score function"][i + 2]])];
    const values = [...bars.map(([v, se]) => v + 2 * se), ...bars.map(([v, se]) => v - 2 * se), ...r.exact, 0];
    const [low, high] = [Math.min(...values), Math.max(...values)], pad = 0.3 * (high - low || 1);
    // twice the pad above: the top 32 % of the axes (92 px) stays clear for the legend (y 65-123 px)
    const right = axes(svg, [640, 50, 340, 290], [-0.5, 1.5], [low - pad, high + 2 * pad],
      { xticks: [0, 1], xticklabels: ["d/dμ", "d/dσ"], ylabel: "estimate", yticks: linspace(low - pad, high + 2 * pad, 5) });
    svg.append(h("svg:line", { x1: right.x(-0.5), x2: right.x(1.5), y1: right.y(0), y2: right.y(0), stroke: GREY }));
    [["pathwise", -0.2, BLUE], ["score function", 0.2, ORANGE]].forEach(([name, offset, colour]) => [0, 1].forEach((i) => {
      const [v, se] = [r[name][i], r[name][i + 2]], x = right.x(i + offset - 0.19), w = right.x(i + offset + 0.19) - x;
      svg.append(h("svg:rect", { x, y: Math.min(right.y(v), right.y(0)), width: w, height: Math.abs(right.y(v) - right.y(0)),
        fill: colour, opacity: 0.7 }));
      svg.append(h("svg:line", { x1: x + w / 2, x2: x + w / 2, y1: right.y(v - 2 * se), y2: right.y(v + 2 * se), stroke: "#222" }));
    }));
    r.exact.forEach((v, i) => svg.append(h("svg:line", { x1: right.x(i - 0.42), x2: right.x(i + 0.42), y1: right.y(v), y2: right.y(v),
      stroke: "black", "stroke-width": 3 })));
    legend(svg, 655, 75, [[BLUE, "pathwise", "box"], [ORANGE, "score function", "box"], ["black", "exact", "bar"]]);
    svg.append(h("svg:text", { x: 810, y: 35, "text-anchor": "middle", "font-size": 17, text: "gradient of E[z²] (±2 s.e.)" }));
    const row = (name) => `<tr><td>${name}</td><td>${fixed(r[name][0], 3)} ± ${fixed(r[name][2], 3)}</td>` +
      `<td>${fixed(r[name][1], 3)} ± ${fixed(r[name][3], 3)}</td></tr>`;
    numbers.innerHTML = `<table><tr><th>estimate (± s.e.)</th><th>d/dμ E[z²]</th><th>d/dσ E[z²]</th></tr>` +
      `<tr><td>exact: 2μ, 2σ</td><td>${fixed(r.exact[0], 3)}</td><td>${fixed(r.exact[1], 3)}</td></tr>` +
      `${row("pathwise")}${row("score function")}</table>`;
    record(el, { exact: r.exact, pathwise: r.pathwise, score_function: r["score function"], seed, mu, sigma });
    svg.dispatchEvent(new Event("drawn"));
  }
  const sliders = [
    slider("mu", { min: -3, max: 3, step: 0.05, value: mu }, (v) => { mu = v; draw(); tell(model, "mu", v); }),
    slider("sigma", { min: 0.1, max: 3, step: 0.05, value: sigma }, (v) => { sigma = v; draw(); tell(model, "sigma", v); }),
  ];
  const resample = h("button", { text: "new eps", onclick: () => { seed += 1; draw(); tell(model, "seed", seed); } });
  model.on("change:mu change:sigma change:seed", () => {
    if (model.get("mu") === mu && model.get("sigma") === sigma && model.get("seed") === seed) return;
    [mu, sigma, seed] = [model.get("mu"), model.get("sigma"), model.get("seed")];
    sliders[0].set(mu); sliders[1].set(sigma); draw();
  });
  el.append(h("div", { class: "vae-lite-row" }, [h("div", {}, sliders.map((s) => s.row)), resample]), svg, numbers);
  draw();
}

// a class picker and style sliders for p(x|z, y); below, one test image's code decoded as every class
async function conditional(model, el) {
  const decoder = await network(model, "decoder");
  const [height, width] = model.get("image_size"), size = height * width;
  const names = model.get("names"), K = names.length, dims = model.get("dims"), d = model.get("latent_dim");
  const images = floats(model.get("bank_images"), "uint8"), codes = floats(model.get("bank_means"));
  const labels = model.get("bank_labels"), indices = model.get("bank_indices");
  let label = model.get("label"), values = [...model.get("values")], moved = null;
  let k = indices.indexOf(model.get("image"));
  const decode = (z, y) => run(decoder, [...z, ...names.map((_, c) => (c === y ? 1 : 0))]).map(sigmoid);
  const canvas = picture(height, width, model.get("scale"), "the decoder's image of z and the class", "vae-lite-decoded");
  const caption = h("div", { class: "vae-lite-caption vae-lite-conditional-caption", "aria-live": "polite" });
  const small = model.get("small_scale");
  const original = picture(height, width, small, "the test image");
  const transfers = names.map((name) => picture(height, width, small, `its code decoded as ${name}`));
  const transferCaption = h("div", { class: "vae-lite-caption" });
  const buttons = names.map((name, c) => h("button", { text: name, "aria-pressed": `${c === label}`, onclick: () => {
    label = c; moved = null; buttons.forEach((b, i) => b.setAttribute("aria-pressed", `${i === c}`)); draw(); tell(model, "label", c);
  } }));
  function start() {
    const z = Array.from(codes.subarray(k * d, (k + 1) * d));
    return z;
  }
  function draw() {
    const z = start();
    dims.forEach((dim, j) => { z[dim] = values[j]; });
    const x = decode(z, label);
    paint(canvas, x);
    const where = moved === null ? `the style of test image ${indices[k]}` : `z[${dims[moved]}] = ${fixed(values[moved])}`;
    caption.textContent = `class ${names[label]}, ${where}; mean ink ${fixed(mean(x), 3)}`;
    record(el, { z, label, x });
  }
  const sliders = dims.map((dim, j) => slider(model.get("labels")[j],
    { min: -model.get("limit"), max: model.get("limit"), step: model.get("step"), value: values[j] }, (v) => {
      values[j] = v; moved = j; draw(); tell(model, "values", [...values]);
    }));
  function showImage() {
    const z = start();
    paint(original, images.subarray(k * size, (k + 1) * size));
    transfers.forEach((c, y) => paint(c, decode(z, y)));
    transferCaption.textContent = `test image ${indices[k]}, a ${names[labels[k]]}, encoded with its label; its code decoded as every class:`;
    const step = model.get("step"), limit = model.get("limit");
    values = dims.map((dim) => Math.round(Math.min(limit, Math.max(-limit, z[dim])) / step) * step);
    sliders.forEach((s, j) => s.set(values[j]));
    moved = null;
    draw();
  }
  const select = h("select", { "aria-label": "test image", onchange: () => {
    k = +select.value; showImage(); tell(model, "image", indices[k]); tell(model, "values", [...values]);
  } }, indices.map((index, j) => h("option", { value: j, text: `test image ${index}` })));
  select.value = k;
  model.on("change:label change:image change:values", () => {
    const [l, i, v] = [model.get("label"), indices.indexOf(model.get("image")), model.get("values")];
    if (i !== k && i >= 0) { k = i; select.value = k; showImage(); }
    if (l !== label) { label = l; buttons.forEach((b, c) => b.setAttribute("aria-pressed", `${c === l}`)); draw(); }
    if (!v.every((x, j) => x === values[j])) { values = [...v]; sliders.forEach((s, j) => s.set(values[j])); draw(); }
  });
  el.append(h("div", { class: "vae-lite-row vae-lite-class-picker", role: "group", "aria-label": "draw class" },
    [h("span", { class: "vae-lite-label", text: "draw class" }), ...buttons]),
  h("div", { class: "vae-lite-row" }, [h("div", {}, [h("div", { class: "vae-lite-heading",
    text: "style: latent dimension (its KL in nats); the others stay at the test image's code" }), ...sliders.map((s) => s.row)]),
  h("div", {}, [canvas, caption])]),
  h("div", { class: "vae-lite-row" }, [select]), transferCaption,
  h("div", { class: "vae-lite-row" }, [h("div", { class: "vae-lite-column" }, [h("div", { text: "test image" }), original]),
    ...transfers.map((c, y) => h("div", { class: "vae-lite-column" }, [h("div", { text: `as ${names[y]}` }), c]))]));
  showImage();
}

// draw a digit; at the end of each stroke the page encodes it and puts q(z|x) on the 2-D map
async function drawing(model, el) {
  const [encoder, decoder] = await Promise.all([network(model, "encoder"), network(model, "decoder")]);
  const [height, width] = model.get("image_size"), size = model.get("canvas_size"), pen = model.get("pen");
  const eps = floats(model.get("eps")), testElbos = floats(model.get("sorted_elbos")); // sorted
  const bank = floats(model.get("bank_images"), "uint8"), bankIndices = model.get("bank_indices");
  const [x0, y0, x1, y1] = model.get("transform"), [mapWidth, mapHeight] = model.get("map_size");
  const [[uLow, uHigh], [vLow, vHigh]] = model.get("limits");
  const pixels = (u, v) => [x0 + (x1 - x0) * u, mapHeight - (y0 + (y1 - y0) * v)];
  let strokes = model.get("strokes").map((s) => s.map((p) => [...p])), test = model.get("test_image");

  const pad = h("canvas", { width: size, height: size, class: "vae-lite-drawing", role: "img", tabindex: 0,
    "aria-label": "drawing canvas: draw a digit with the mouse, a pen or a finger" });
  Object.assign(pad.style, { width: `${size}px`, height: `${size}px`, border: "1px solid #777", touchAction: "none", cursor: "crosshair" });
  const ink = pad.getContext("2d");
  const map = h("div", { class: "vae-lite-latent-map", style: { position: "relative", width: `${mapWidth}px`, height: `${mapHeight}px` } });
  const background = h("img", { src: model.get("map_png"), width: mapWidth, height: mapHeight,
    alt: "the test set's encoder means on the 2-D latent map, coloured by class" });
  const overlay = h("canvas", { width: mapWidth, height: mapHeight, class: "vae-lite-map-overlay", role: "img",
    "aria-label": "q(z|x) of the drawing: a cross at its mean, an ellipse at plus and minus two sigma" });
  overlay.style.position = background.style.position = "absolute";
  overlay.style.left = overlay.style.top = background.style.left = background.style.top = "0";
  map.append(background, overlay);
  const scale = Math.max(2, Math.floor(112 / Math.max(height, width)));
  const seen = picture(height, width, scale, "what the model sees");
  const reconstruction = picture(height, width, scale, "the reconstruction", "vae-lite-reconstruction");
  const readout = h("div", { class: "vae-lite-numbers vae-lite-readout-text", "aria-live": "polite" });

  function paintPad() {
    ink.fillStyle = "white";
    ink.fillRect(0, 0, size, size);
    if (test >= 0) { // a test image, enlarged
      const small = h("canvas", { width, height });
      paint(small, bank.subarray(test * height * width, (test + 1) * height * width));
      ink.imageSmoothingEnabled = true;
      ink.drawImage(small, 0, 0, size, size);
      return;
    }
    ink.strokeStyle = ink.fillStyle = "black";
    Object.assign(ink, { lineWidth: pen, lineCap: "round", lineJoin: "round" });
    for (const points of strokes) {
      ink.beginPath();
      ink.moveTo(...points[0]);
      points.slice(1).forEach((p) => ink.lineTo(...p));
      if (points.length === 1) ink.lineTo(...points[0]);
      ink.stroke();
    }
  }

  function modelInput() {
    if (test >= 0) return Float64Array.from(bank.subarray(test * height * width, (test + 1) * height * width));
    return centredLikeData(inkOfStrokes(strokes, size, pen), size, [height, width], model.get("extent"));
  }

  let updates = 0; // a stroke that comes while the ELBO of the last is pending makes it moot
  function update() {
    paintPad();
    const overlayContext = overlay.getContext("2d");
    overlayContext.clearRect(0, 0, mapWidth, mapHeight);
    if (!strokes.length && test < 0) {
      paint(seen, new Float32Array(height * width));
      paint(reconstruction, new Float32Array(height * width));
      readout.textContent = "Draw a digit: each stroke is encoded when you lift the pen.";
      updates += 1;
      record(el, { complete: true });
      return;
    }
    const x = modelInput();
    const out = run(encoder, x, [1, height, width]);
    const d = out.length / 2, mu = Array.from(out.slice(0, d)), logvar = Array.from(out.slice(d));
    const sigma = logvar.map((v) => Math.exp(0.5 * v));
    paint(seen, x);
    paint(reconstruction, run(decoder, mu).map(sigmoid));
    // q(z|x) on the map: +-2 sigma ellipse and a cross at the mean, clipped to the axes
    const [cx, cy] = pixels(mu[0], mu[1]);
    const rx = Math.max(3, 2 * sigma[0] * (x1 - x0)), ry = Math.max(3, 2 * sigma[1] * (y1 - y0));
    const [left, top] = pixels(uLow, vHigh), [right, bottom] = pixels(uHigh, vLow);
    overlayContext.save();
    overlayContext.beginPath();
    overlayContext.rect(left, top, right - left, bottom - top);
    overlayContext.clip();
    for (const [colour, lineWidth] of [["white", 7], ["black", 3]]) {
      Object.assign(overlayContext, { strokeStyle: colour, lineWidth });
      overlayContext.beginPath();
      overlayContext.ellipse(cx, cy, rx, ry, 0, 0, 2 * Math.PI);
      overlayContext.moveTo(cx - 14, cy); overlayContext.lineTo(cx + 14, cy);
      overlayContext.moveTo(cx, cy - 14); overlayContext.lineTo(cx, cy + 14);
      overlayContext.stroke();
    }
    overlayContext.restore();
    const onMap = uLow <= mu[0] && mu[0] <= uHigh && vLow <= mu[1] && mu[1] <= vHigh;
    const where = `<b>q(z|x)</b>: μ = (${fixed(mu[0])}, ${fixed(mu[1])}), σ = (${fixed(sigma[0])}, ${fixed(sigma[1])})`;
    readout.innerHTML = where + "<br>ELBO: …";
    const recorded = { strokes, test, x, mu, logvar, pen, size, extent: model.get("extent") };
    record(el, { ...recorded, complete: false });
    overlay.dispatchEvent(new Event("drawn"));
    // the ELBO takes eight more decodes: after the picture is on the screen, not before
    const version = ++updates;
    setTimeout(() => {
      if (version !== updates) return; // another stroke came first
      // ELBO = mean over the fixed eps of log p(x | mu + sigma eps), minus the KL in closed form
      let reconstructionTerm = 0;
      const samples = eps.length / d;
      for (let s = 0; s < samples; s++) {
        const z = mu.map((m, i) => m + sigma[i] * eps[s * d + i]);
        reconstructionTerm += bernoulliLogLikelihood(run(decoder, z), x) / samples;
      }
      const elbo = reconstructionTerm - klStandardNormal(mu, logvar);
      let below = 0;
      while (below < testElbos.length && testElbos[below] < elbo) below += 1;
      const fraction = below / testElbos.length;
      const median = testElbos.length % 2 ? testElbos[(testElbos.length - 1) / 2]
        : 0.5 * (testElbos[testElbos.length / 2 - 1] + testElbos[testElbos.length / 2]);
      readout.innerHTML = where + `<br><b>ELBO</b> = ${fixed(elbo, 1)} nats (test images: median ${fixed(median, 1)})` +
        `<br>${fixed(100 * fraction, 1)} % of ${testElbos.length} test images score lower` + (onMap ? "" : "<br>(μ lies off the map)");
      record(el, { ...recorded, elbo, fraction, complete: true });
    }, 0);
  }

  // the pen: pointer events cover the mouse, a pen and a finger
  let current = null;
  const at = (event) => { const box = pad.getBoundingClientRect(); return [(event.clientX - box.left) * size / box.width, (event.clientY - box.top) * size / box.height]; };
  pad.addEventListener("pointerdown", (event) => {
    if (test >= 0) { test = -1; strokes = []; }
    current = [at(event)];
    strokes.push(current);
    pad.setPointerCapture(event.pointerId);
    paintPad();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!current) return;
    const point = at(event), last = current[current.length - 1];
    ink.beginPath(); ink.moveTo(...last); ink.lineTo(...point); ink.stroke();
    current.push(point);
  });
  // the page's own changes, told to the kernel; the handler below skips their echo
  let telling = false;
  const tellAll = (pairs) => {
    telling = true;
    for (const [name, value] of pairs) model.set(name, value);
    telling = false;
    model.save_changes();
  };
  const end = () => {
    if (!current) return;
    current = null;
    strokes = strokes.map((s) => s.map(([a, b]) => [Math.round(a * 100) / 100, Math.round(b * 100) / 100]));
    update();
    tellAll([["test_image", -1], ["strokes", strokes]]);
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  const clear = h("button", { text: "clear", onclick: () => {
    strokes = []; test = -1; update(); tellAll([["test_image", -1], ["strokes", []]]);
  } });
  const next = h("button", { text: "use a test image", onclick: () => {
    test = (test + 1) % bankIndices.length; strokes = []; update(); tellAll([["strokes", []], ["test_image", test]]);
  } });
  model.on("change:strokes change:test_image", () => { // from the kernel: draw_stroke, clear, use_test_image
    if (telling) return;
    const sent = model.get("strokes");
    if (model.get("test_image") === test && JSON.stringify(sent) === JSON.stringify(strokes)) return;
    strokes = sent.map((s) => s.map((p) => [...p])); test = model.get("test_image"); update();
  });
  const small = (title, node) => h("div", { class: "vae-lite-column" }, [h("div", { text: title }), node]);
  el.append(h("div", { class: "vae-lite-row", style: { flexWrap: "wrap" } }, [
    h("div", { class: "vae-lite-column" }, [h("div", { text: "draw here (mouse, touchpad or finger)" }), pad,
      h("div", { class: "vae-lite-row" }, [clear, next])]),
    map,
    h("div", { class: "vae-lite-column" }, [h("div", { class: "vae-lite-row" }, [small("what the model sees", seen),
      small("reconstruction", reconstruction)]), readout])]));
  update();
}

const EXPLORERS = { latent, interpolation, kl, reparameterization, conditional, drawing };

const STYLE = `.vae-lite-row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start;margin:4px 0}
.vae-lite-column{display:flex;flex-direction:column;gap:2px}
.vae-lite-slider-row{display:flex;gap:8px;align-items:center;margin:2px 0}
.vae-lite-label{display:inline-block;min-width:90px;font-size:14px}
.vae-lite-slider{width:220px}.vae-lite-readout{min-width:3em;font-variant-numeric:tabular-nums}
.vae-lite-heading{font-weight:bold;margin-bottom:4px}.vae-lite-caption,.vae-lite-numbers{font-size:14px;margin:4px 0}
.vae-lite-explorer button{font-size:14px;padding:2px 10px;margin:2px}
.vae-lite-explorer button[aria-pressed=true]{background:#3f90da;color:white}
.vae-lite-explorer :focus-visible{outline:3px solid #ffa90e}
.vae-lite-numbers table{border-collapse:collapse}.vae-lite-numbers td,.vae-lite-numbers th{padding:2px 10px;text-align:right}`;

async function render({ model, el }) {
  if (!document.getElementById("vae-lite-style")) document.head.append(h("style", { id: "vae-lite-style", text: STYLE }));
  // JupyterLab's keyboard shortcuts leave the explorer alone: the arrow keys move its sliders, not the cells
  const box = h("div", { class: `vae-lite-explorer vae-lite-${model.get("kind")}`, "data-lm-suppress-shortcuts": "true" });
  box.addEventListener("keydown", (event) => event.stopPropagation()); // nor does the notebook's own key handling
  el.append(box);
  await EXPLORERS[model.get("kind")](model, box);
}

export default { render };
