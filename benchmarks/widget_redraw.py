"""What a student waits for: from a key press on an explorer's slider (a click, the end of a stroke)
to the new picture, in JupyterLab and on the static site, timed inside headless Chromium.

    python benchmarks/widget_redraw.py --browser       # writes results/widget_browser.json
    python benchmarks/widget_redraw.py --browser --presses 10 --out /tmp/redraw.json
    python benchmarks/widget_redraw.py --browser --where site    # the site alone (no JupyterLab)

Every explorer is drawn by its page (vae_lite/explorers.js: the networks run there from the
weights the notebook stores), so the kernel is not on the way in either place; the two columns
measure the same JavaScript under JupyterLab's and the site's widget managers.

JupyterLab: started as `make lab` does (tools/lab.py), notebooks 03, 04, 07 and 11 run in quick
mode. The site: built by tools/build_site.py from the stored notebooks into a temporary folder and
served on 127.0.0.1. In both, for each explorer: `--presses` arrow-key presses on its first slider
(07's latent and interpolation sliders, 04's KL mu, 03's reparameterization mu, 11's style slider),
then 11's class buttons (clicks) and drawing canvas (strokes, to the ellipse on the latent map).
Time: from the event to the first animation frame after the picture's "drawn" event.
Target: p90 <= 50 ms for every explorer.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402  (the project's tools)
import lab  # noqa: E402

from vae_lite._files import atomic_write  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"
TARGET = {"p90_ms": 50}
NOTEBOOKS = ("03_*.ipynb", "04_*.ipynb", "*_latent_space.ipynb", "11_*.ipynb")
SLIDERS = {  # page, explorer kind, what its first slider is
    "03": [("reparameterization", "reparameterization explorer, mu slider (03)")],
    "04": [("kl", "KL explorer, mu slider (04)")],
    "07": [("latent", "latent explorer, first slider (07)"), ("interpolation", "interpolation explorer, t slider (07)")],
    "11": [("conditional", "conditional explorer, style slider (11)")],
}


def time_page(page, number, presses):
    """The times of every explorer on an open page (JupyterLab's notebook or the site's page)."""
    results = {}
    for kind, name in SLIDERS[number]:
        explorer = page.locator(f".vae-lite-explorer.vae-lite-{kind}").first
        explorer.scroll_into_view_if_needed()
        picture = explorer.locator(".vae-lite-decoded, svg.vae-lite-picture").first
        slider = explorer.locator("input[type=range]").first
        lab.key_to_picture_ms(page, slider, picture, 3)  # warm-up
        results[name] = lab.key_to_picture_ms(page, slider, picture, presses)
    if number == "11":
        conditional = page.locator(".vae-lite-explorer.vae-lite-conditional").first
        buttons = conditional.locator(".vae-lite-class-picker button")
        lab.watch(page, conditional.locator(".vae-lite-class-picker"), "click", conditional.locator(".vae-lite-decoded"))
        times = []
        for i in range(min(presses, 20)):
            buttons.nth(i % buttons.count()).click()
            times.append(lab.measured(page, i + 1))
        results["conditional explorer, class click (11)"] = times
        drawing = page.locator(".vae-lite-explorer.vae-lite-drawing").first
        pad = drawing.locator("canvas.vae-lite-drawing")
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        lab.watch(page, pad, "pointerup", drawing.locator("canvas.vae-lite-map-overlay"))
        times = []
        for i in range(min(presses, 20)):
            x = box["x"] + (0.3 + 0.02 * i) * box["width"]
            page.mouse.move(x, box["y"] + 0.2 * box["height"])
            page.mouse.down()
            page.mouse.move(x + 0.1 * box["width"], box["y"] + 0.8 * box["height"], steps=8)
            page.mouse.up()
            times.append(lab.measured(page, i + 1))
        results["drawing explorer, end of stroke to q(z|x) on the map (11)"] = times
    return results


def in_jupyterlab(presses, tmp):
    paths = [lab.notebook(pattern) for pattern in NOTEBOOKS]
    results = {}
    from playwright.sync_api import sync_playwright

    with lab.lab_server(tmp, paths) as (url, token, root), sync_playwright() as p, \
            lab.chromium_page(p, tmp / "chromium") as page:
        for path in paths:
            lab.run_all(page, url, token, path.name)
            results.update(time_page(page, path.name[:2], presses))
            page.goto("about:blank")  # its kernel idles from here on
    return results


def on_the_site(presses, tmp):
    out = build_site.build(tmp / "site")
    results = {}
    from playwright.sync_api import sync_playwright

    with lab.static_server(out) as url, sync_playwright() as p, lab.chromium_page(p, tmp / "chromium-site") as page:
        for pattern in NOTEBOOKS:
            name = lab.notebook(pattern).stem
            page.goto(f"{url}/{name}.html")
            page.wait_for_function("document.documentElement.dataset.widgets === 'rendered'", timeout=60_000)
            results.update(time_page(page, name[:2], presses))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--browser", action="store_true", help="(the only mode: kept so the documented command works)")
    parser.add_argument("--presses", type=int, default=15, help="key presses per slider (clicks and strokes: up to 20); "
                        "15 after 3 warm-up presses stay within the t slider's 20 steps")
    parser.add_argument("--where", choices=("both", "jupyterlab", "site"), default="both")
    parser.add_argument("--out", default=str(RESULTS / "widget_browser.json"))
    args = parser.parse_args(argv)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    places = {"jupyterlab": in_jupyterlab, "site": on_the_site}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for where, measure in places.items():
            if args.where in ("both", where):
                times = measure(args.presses, Path(tmp) / where)
                results[where] = {name: {**lab.summary(t), "times_ms": [round(v, 1) for v in t]} for name, t in times.items()}
    meets = all(r["p90_ms"] <= TARGET["p90_ms"] for place in results.values() for r in place.values())
    record = {
        "command": "python benchmarks/widget_redraw.py --browser" + (f" --presses {args.presses}" if args.presses != 40 else "")
                   + (f" --where {args.where}" if args.where != "both" else ""),
        "what": "time inside the page from the key press (click, end of stroke) to the first animation frame after the "
                "explorer's picture is drawn (explorers.js, the networks run in the page); JupyterLab with notebooks run "
                "in quick mode, and the static site built from the stored notebooks, in headless Chromium on this machine",
        "target": TARGET,
        "every_explorer_meets_target": meets,
        "results": results,
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    for where, place in results.items():
        for name, r in place.items():
            print(f"{where:10s} {name:58s} median {r['median_ms']:6.1f} ms  p90 {r['p90_ms']:6.1f} ms  (n = {r['n']})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))
    print(f"wrote {out}")
    return 0 if meets else 1


if __name__ == "__main__":
    sys.exit(main())
