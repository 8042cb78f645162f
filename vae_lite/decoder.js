// The latent explorer's picture, decoded in the browser: a slider move redraws at once, with no
// round trip to the kernel (which a class on Binder, Colab or a JupyterHub pays in network time).
//
// It is the same MLP decoder as vae_lite.models.MLPDecoder followed by VAE.decode's sigmoid,
// with the weights the kernel sent once (float32, PyTorch's Linear layout: W is outputs x inputs):
//
//     h_1 = relu(W_1 z + b_1),  ...,  h_{L-1} = relu(W_{L-1} h_{L-2} + b_{L-1})
//     x   = sigmoid(W_L h_{L-1} + b_L)           the decoder's mean image, one probability per pixel
//
// The kernel still decodes each z too, for the caption under the picture, and sends it here.

export function decode(layers, z) {
  let h = Float64Array.from(z);
  layers.forEach(({ weight, bias }, layer) => {
    const inputs = h.length;
    const a = bias.map((b, o) => {
      let sum = b;
      for (let i = 0; i < inputs; i++) sum += weight[o * inputs + i] * h[i];
      return sum;
    });
    const last = layer === layers.length - 1;
    h = Float64Array.from(a, last ? (v) => 1 / (1 + Math.exp(-v)) : (v) => Math.max(v, 0));
  });
  return h;
}

// the bytes of one float32 array, copied: a view into the message could start at any byte
const floats = (view) => new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));

async function render({ model, el }) {
  const layers = model.get("layers").map(({ weight, bias }) => ({ weight: floats(weight), bias: floats(bias) }));
  const [height, width] = model.get("image_size");
  const canvas = document.createElement("canvas");
  Object.assign(canvas, { width, height, className: "vae-lite-decoded" });
  // one canvas pixel per image pixel, shown `scale` times larger without smoothing
  Object.assign(canvas.style, { width: `${width * model.get("scale")}px`, imageRendering: "pixelated" });
  el.appendChild(canvas);
  const context = canvas.getContext("2d");

  // the FloatSliders of ipywidgets, as the page knows them: their values change here first.
  // A page that cannot hand them over still draws, each time the kernel's z arrives.
  let sliders = [];
  try {
    const prefix = "IPY_MODEL_";
    sliders = await Promise.all(model.get("sliders").map((ref) => model.widget_manager.get_model(ref.slice(prefix.length))));
  } catch (error) {
    console.warn("vae_lite: the picture follows the kernel's z, not the sliders themselves:", error);
  }

  function draw() {
    const z = [...model.get("z")]; // the kernel's z: the dimensions without a slider keep these values
    sliders.forEach((slider, k) => { z[model.get("dims")[k]] = slider.get("value"); }); // newer than the kernel's
    const x = decode(layers, z);
    const pixels = context.createImageData(width, height);
    x.forEach((p, i) => {
      const grey = Math.round(255 * (1 - p)); // black ink on white, as vae_lite.widgets.png_bytes
      pixels.data.set([grey, grey, grey, 255], 4 * i);
    });
    context.putImageData(pixels, 0, 0);
    canvas.dispatchEvent(new Event("drawn")); // for the browser tests' timing
  }

  sliders.forEach((slider) => slider.on("change:value", draw));
  model.on("change:z", draw);
  draw();
  return () => sliders.forEach((slider) => slider.off("change:value", draw));
}

export default { render };
