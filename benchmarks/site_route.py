"""How the site should carry the explorers: two routes, measured on the stored notebooks.

    python benchmarks/site_route.py      # writes results/site_route.json

A. the widget state the notebook stores, rendered by ipywidgets' HTML manager (what `make site` does):
   each network once per notebook (a Network widget that every explorer of the model names), the
   explorers' JavaScript once per explorer, and every other widget (tqdm's progress bars) as well.
B. a self-contained HTML output beside each explorer: its own copy of the JavaScript, of every
   network it runs and of its state, so an explorer that shares a model with another carries the
   weights again.

Measured: the bytes each route adds to each notebook, counted from the stored widget state (JSON
with base64 buffers, as either route would store them).
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from vae_lite._files import atomic_write  # noqa: E402

STATE = "application/vnd.jupyter.widget-state+json"


def sizes(path):
    nb = json.loads(path.read_text())
    state = nb.get("metadata", {}).get("widgets", {}).get(STATE, {}).get("state", {})
    size = {model_id: len(json.dumps(model)) for model_id, model in state.items()}
    explorers = {i: m for i, m in state.items() if m.get("model_name") == "AnyModel" and m["state"].get("kind")}
    route_a = sum(size.values())
    route_b = 0
    for model in explorers.values():  # each explorer alone: itself and the networks it names
        names = [v for v in model["state"].values() if isinstance(v, str) and v.startswith("IPY_MODEL_")]
        route_b += len(json.dumps(model)) + sum(size.get(v[len("IPY_MODEL_"):], 0) for v in names)
    others = sum(s for i, s in size.items() if i not in explorers and state[i]["model_name"] != "WidgetModel")
    return {"explorers": len(explorers), "route_a_bytes": route_a, "route_b_bytes": route_b,
            "other_widgets_bytes_route_a_also_renders": others, "notebook_bytes": path.stat().st_size}


def main():
    results = {p.name: sizes(p) for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    results = {name: r for name, r in results.items() if r["explorers"]}
    record = {"command": "python benchmarks/site_route.py", "what": __doc__.split("\n\n", 1)[1].strip(),
              "results": results, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    for name, r in results.items():
        print(f"{name:32s} explorers {r['explorers']}  A {r['route_a_bytes'] / 1e6:5.2f} MB  "
              f"B {r['route_b_bytes'] / 1e6:5.2f} MB  notebook {r['notebook_bytes'] / 1e6:5.2f} MB")
    out = ROOT / "results" / "site_route.json"
    atomic_write(out, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
