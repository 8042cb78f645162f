// The widgets of a notebook page, rendered with no kernel: ipywidgets' HTML manager (bundled from npm
// at build time by esbuild, `make site`) reads the widget state that the notebook stores and that
// myst-nb writes into the page, and draws each widget where its output was. Models of anywidget
// (every explorer of vae_lite) come from ./anywidget.js; any other module is an error, said in the
// console, since the page must load nothing from elsewhere.
import { HTMLManager } from "@jupyter-widgets/html-manager/lib/htmlmanager";
import { renderWidgets } from "@jupyter-widgets/html-manager/lib/libembed";
import * as anywidget from "./anywidget.js";

function loader(name, version) {
  if (name === "anywidget") return Promise.resolve(anywidget);
  return Promise.reject(new Error(`the site bundles no widget module ${name}@${version}`));
}

window.addEventListener("load", () => {
  renderWidgets(() => new HTMLManager({ loader }))
    .then(() => { document.documentElement.dataset.widgets = "rendered"; }) // for the visitor test
    .catch((error) => { console.error("vae_lite: the widgets could not be rendered:", error); });
});
