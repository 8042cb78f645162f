// anywidget's models for ipywidgets' HTML manager: a widget's JavaScript module is in its own state
// (`_esm`), so the page imports it from there and calls its render({ model, el }), as anywidget does
// in JupyterLab. The model it is handed has anywidget's interface (get, set, on, off, save_changes,
// send, widget_manager); with no kernel, save_changes keeps the values in the page.
import { DOMWidgetModel, DOMWidgetView } from "@jupyter-widgets/base";

const modules = new Map(); // one import per module text
function load(esm) {
  if (!modules.has(esm)) {
    const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
    modules.set(esm, import(/* @vite-ignore */ url).then((module) => {
      const widget = module.default ?? module;
      return typeof widget === "function" ? widget() : widget;
    }));
  }
  return modules.get(esm);
}

function facade(model) {
  return {
    get: (name) => model.get(name),
    set: (name, value) => model.set(name, value),
    save_changes: () => model.save_changes(),
    on: (event, callback) => model.on(event, callback),
    off: (event, callback) => model.off(event, callback),
    send: () => {},
    widget_manager: model.widget_manager,
  };
}

export class AnyModel extends DOMWidgetModel {
  initialize(attributes, options) {
    super.initialize(attributes, options);
    this.widget = load(this.get("_esm")).then(async (widget) => {
      if (widget.initialize) await widget.initialize({ model: facade(this) });
      return widget;
    });
  }
}

export class AnyView extends DOMWidgetView {
  async render() {
    const widget = await this.model.widget;
    const css = this.model.get("_css");
    if (css) this.el.append(Object.assign(document.createElement("style"), { textContent: css }));
    this.cleanup = await widget.render?.({ model: facade(this.model), el: this.el });
  }

  remove() {
    if (typeof this.cleanup === "function") this.cleanup();
    return super.remove();
  }
}
