// The networks of vae_lite/networks.py, run in the page from the weights the kernel stored, and the
// few formulas the explorers need beside them. The same code runs in JupyterLab and on the static
// site (make site); tests/test_browser.py checks each function against PyTorch.
//
// A network is a list of layers, as vae_lite.widgets.network_layers exports it (PyTorch's layouts):
//
//     linear            y = W x + b                 W: outputs x inputs; x is flattened first
//     conv2d            y = W * x + b               W: (C_out, C_in, k, k), stride s, padding p
//     conv_transpose2d  the transpose of conv2d     W: (C_in, C_out, k, k), to a given output size
//     relu, tanh        elementwise
//     reshape           a new shape for the same numbers
//
// Each W arrives in 8 bits with a scale per row (its first dimension), w = q * scale, as
// vae_lite.widgets.quantized stores it; b in float32. widgets.page_weights(module) is the same
// network in PyTorch, which the tests compare with.

// a DataView of little-endian numbers as a Float32Array: float32, int8, or uint8 pixels (/ 255)
export function floats(view, dtype = "float32") {
  const size = dtype === "float32" ? 4 : 1;
  const out = new Float32Array(view.byteLength / size);
  for (let i = 0; i < out.length; i++) {
    out[i] = dtype === "int8" ? view.getInt8(i) : dtype === "uint8" ? view.getUint8(i) / 255 : view.getFloat32(4 * i, true);
  }
  return out;
}

// the layers of a stored network, with W = q * scale and b as Float32Arrays
export function layersOf(spec) {
  return spec.map((layer) => {
    if (!layer.weight) return layer;
    const q = floats(layer.weight, "int8"), scale = floats(layer.scale), row = q.length / scale.length;
    return { ...layer, weight: q.map((v, i) => v * scale[Math.floor(i / row)]), bias: floats(layer.bias) };
  });
}

function linear({ weight, bias, shape: [outputs, inputs] }, x) {
  const y = new Float32Array(outputs);
  for (let o = 0; o < outputs; o++) {
    let sum = bias[o];
    const row = o * inputs;
    for (let i = 0; i < inputs; i++) sum += weight[row + i] * x[i];
    y[o] = sum;
  }
  return y;
}

// y[o, r, c] = b[o] + sum over i, u, v of W[o, i, u, v] x[i, r s - p + u, c s - p + v]
function conv2d({ weight, bias, shape: [outputs, inputs, k], stride, padding }, x, [, height, width]) {
  const rows = Math.floor((height + 2 * padding - k) / stride) + 1;
  const cols = Math.floor((width + 2 * padding - k) / stride) + 1;
  const y = new Float32Array(outputs * rows * cols);
  for (let o = 0; o < outputs; o++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let sum = bias[o];
        for (let i = 0; i < inputs; i++) {
          for (let u = 0; u < k; u++) {
            const row = r * stride - padding + u;
            if (row < 0 || row >= height) continue;
            for (let v = 0; v < k; v++) {
              const col = c * stride - padding + v;
              if (col < 0 || col >= width) continue;
              sum += weight[((o * inputs + i) * k + u) * k + v] * x[(i * height + row) * width + col];
            }
          }
        }
        y[(o * rows + r) * cols + c] = sum;
      }
    }
  }
  return [y, [outputs, rows, cols]];
}

// the transpose: each input pixel x[i, r, c] adds W[i, o, u, v] x[i, r, c] to y[o, r s - p + u, c s - p + v]
function convTranspose2d({ weight, bias, shape: [inputs, outputs, k], stride, padding, output_size: [rows, cols] },
  x, [, height, width]) {
  const y = new Float32Array(outputs * rows * cols);
  for (let o = 0; o < outputs; o++) y.fill(bias[o], o * rows * cols, (o + 1) * rows * cols);
  for (let i = 0; i < inputs; i++) {
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        const value = x[(i * height + r) * width + c];
        if (value === 0) continue; // after a ReLU most are
        for (let o = 0; o < outputs; o++) {
          for (let u = 0; u < k; u++) {
            const row = r * stride - padding + u;
            if (row < 0 || row >= rows) continue;
            for (let v = 0; v < k; v++) {
              const col = c * stride - padding + v;
              if (col < 0 || col >= cols) continue;
              y[(o * rows + row) * cols + col] += weight[((i * outputs + o) * k + u) * k + v] * value;
            }
          }
        }
      }
    }
  }
  return [y, [outputs, rows, cols]];
}

// the network's output for one input (a flat array and its shape); returns the flat output
export function run(layers, input, shape = [input.length]) {
  let x = Float32Array.from(input);
  for (const layer of layers) {
    if (layer.op === "linear") [x, shape] = [linear(layer, x), [layer.shape[0]]];
    else if (layer.op === "conv2d") [x, shape] = conv2d(layer, x, shape);
    else if (layer.op === "conv_transpose2d") [x, shape] = convTranspose2d(layer, x, shape);
    else if (layer.op === "relu") x = x.map((v) => Math.max(v, 0));
    else if (layer.op === "tanh") x = x.map(Math.tanh);
    else if (layer.op === "reshape") shape = layer.shape;
    else throw new Error(`vae_lite: unknown layer ${layer.op}`);
  }
  return x;
}

export const sigmoid = (v) => 1 / (1 + Math.exp(-v));

// log p(x|z) of a Bernoulli decoder from its logits l: sum_i x_i l_i - log(1 + e^l_i)
export function bernoulliLogLikelihood(logits, x) {
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const l = logits[i];
    sum += x[i] * l - (Math.max(l, 0) + Math.log1p(Math.exp(-Math.abs(l))));
  }
  return sum;
}

// KL(N(mu, sigma^2) || N(0, I)) = 1/2 sum_d (mu_d^2 + sigma_d^2 - log sigma_d^2 - 1)
export function klStandardNormal(mu, logvar) {
  let sum = 0;
  for (let d = 0; d < mu.length; d++) sum += 0.5 * (mu[d] ** 2 + Math.expm1(logvar[d]) - logvar[d]);
  return sum;
}

// ---------------------------------------------------------------- a drawing as the model's input
// The same rules as vae_lite.drawing.ink_of_strokes and centred_like_data, step by step.

// ink of strokes on a size x size canvas: 1 where a pixel's centre lies within pen/2 of a stroke
export function inkOfStrokes(strokes, size, pen) {
  const ink = new Float64Array(size * size);
  const r = pen / 2;
  for (const points of strokes) {
    const segments = points.length > 1 ? points.slice(1).map((p, i) => [points[i], p]) : [[points[0], points[0]]];
    for (const [[ax, ay], [bx, by]] of segments) {
      const dx = bx - ax, dy = by - ay, length2 = dx * dx + dy * dy;
      const top = Math.max(0, Math.floor(Math.min(ay, by) - r)), bottom = Math.min(size - 1, Math.ceil(Math.max(ay, by) + r));
      const left = Math.max(0, Math.floor(Math.min(ax, bx) - r)), right = Math.min(size - 1, Math.ceil(Math.max(ax, bx) + r));
      for (let row = top; row <= bottom; row++) {
        for (let col = left; col <= right; col++) {
          const px = col + 0.5, py = row + 0.5;
          const t = length2 > 0 ? Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / length2)) : 0;
          const ex = px - (ax + t * dx), ey = py - (ay + t * dy);
          if (ex * ex + ey * ey <= r * r) ink[row * size + col] = 1;
        }
      }
    }
  }
  return ink;
}

// the weights of an area-average resize from n to m cells: cell j covers [j n/m, (j+1) n/m)
function areaWeights(n, m) {
  const scale = n / m;
  return Array.from({ length: m }, (_, j) => {
    const start = j * scale, end = (j + 1) * scale, weights = [];
    for (let i = Math.floor(start); i < Math.min(n, Math.ceil(end)); i++) {
      weights.push([i, (Math.min(end, i + 1) - Math.max(start, i)) / scale]);
    }
    return weights;
  });
}

// ink (size x size, 0..1) as an image of `shape` prepared as MNIST's were: cropped to the ink,
// scaled (keeping its aspect) so its longer side spans `extent` of the image, area-averaged,
// and placed with its centre of mass at the centre
export function centredLikeData(ink, size, [height, width], extent) {
  const out = new Float64Array(height * width);
  let top = size, bottom = -1, left = size, right = -1;
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (ink[row * size + col] > 0.05) {
        top = Math.min(top, row); bottom = Math.max(bottom, row);
        left = Math.min(left, col); right = Math.max(right, col);
      }
    }
  }
  if (bottom < 0) return out;
  const cropH = bottom - top + 1, cropW = right - left + 1;
  const factor = extent * Math.min(height, width) / Math.max(cropH, cropW);
  const h = Math.max(1, Math.min(height, Math.floor(cropH * factor + 0.5)));
  const w = Math.max(1, Math.min(width, Math.floor(cropW * factor + 0.5)));
  const rowWeights = areaWeights(cropH, h), colWeights = areaWeights(cropW, w);
  const small = new Float64Array(h * w);
  let total = 0, rowMoment = 0, colMoment = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      let sum = 0;
      for (const [i, a] of rowWeights[r]) for (const [j, b] of colWeights[c]) sum += a * b * ink[(top + i) * size + left + j];
      small[r * w + c] = sum;
      total += sum; rowMoment += sum * (r + 0.5); colMoment += sum * (c + 0.5);
    }
  }
  const clip = (v, high) => Math.min(Math.max(v, 0), high);
  const row0 = clip(Math.floor(height / 2 - rowMoment / total + 0.5), height - h);
  const col0 = clip(Math.floor(width / 2 - colMoment / total + 0.5), width - w);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) out[(row0 + r) * width + col0 + c] = small[r * w + c];
  return out;
}
