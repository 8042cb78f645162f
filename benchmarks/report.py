"""Write the results tables of benchmarks/README.md from results/*.json.

    python benchmarks/report.py

Every number in the tables is read from the JSON the benchmarks wrote; nothing is typed in
by hand. The tables go between the README's `results:start` and `results:end` markers.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"  # the stored runs, beside notebooks/ (README.md, "Stored runs")
START, END = "<!-- results:start -->", "<!-- results:end -->"


def load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def mark(ok):
    return "yes" if ok else "**no**"


def speed_table(speed):
    if speed is None:
        return ["Speed: not run yet (`python benchmarks/speed.py`)."]
    r, cfg, cmd = speed["results"], speed["config"], f"`{speed['command']}`"
    load = speed["machine"]["load_average_at_start"][0]
    lines = [
        f"### Speed ({speed['when']}, {cfg['train_images']} training images, batch {cfg['batch_size']}, "
        f"{cfg['threads']} threads, median of {cfg['repeats']} interleaved rounds; "
        f"load average {load:.1f} on {speed['machine']['cpu_count']} cores at the start)",
        "",
        "| Measure | Result | Target | Met | Command |",
        "|---|---|---|---|---|",
        f"| fit / bare loop, one epoch (fit includes its test evaluation) | {r['fit_over_bare']:.3f} "
        f"(paired per round: {r['fit_over_bare_paired']:.3f}; CPU time: {r['by_cpu_time']['fit_over_bare']:.3f}) "
        f"| ≤ {speed['targets']['fit_over_bare']} | {mark(speed['met']['fit_over_bare'])} | {cmd} |",
        f"| reference pipeline (per-item Dataset + DataLoader) / fit | {r['reference_over_fit']:.2f} "
        f"(paired: {r['reference_over_fit_paired']:.2f}; CPU time: {r['by_cpu_time']['reference_over_fit']:.2f}) "
        f"| ≥ {speed['targets']['reference_over_fit']} | {mark(speed['met']['reference_over_fit'])} | {cmd} |",
        "",
        "| Variant | seconds per epoch (median) | CPU seconds | peak memory (MB) | increase in training (MB) |",
        "|---|---|---|---|---|",
    ]
    for name, seconds in speed["seconds_median"].items():
        m = speed["memory"].get(name, {})
        lines.append(f"| {name} | {seconds:.2f} | {speed['cpu_seconds_median'][name]:.2f} | "
                     f"{m.get('peak_rss_mb', float('nan')):.0f} | {m.get('training_increase_mb', float('nan')):.0f} |")
    return lines


def quality_table(quality):
    if not quality:
        return ["Quality: not run yet (`python benchmarks/quality.py mnist-10 mnist-long fashion-long`)."]
    lines = [
        "### Quality (nats per test example; test set binarized once with a fixed seed)", "",
        "| Configuration | epochs | test −ELBO (10k) | IW NLL, k | IW images | −ELBO on those images | "
        "IW NLL corrected to 10k* | active units | training (wall / CPU s) | Target | Met | Command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    targets = {"mnist-long": 88.5}
    for name, q in quality.items():
        if name == "digits-quick":
            continue
        c = q["config"]
        done = f"{q.get('epochs_trained', c['epochs'])} of {c['epochs']}" + ("" if q.get("complete", True) else " (stopped)")
        target = targets.get(name)
        # the IW subset may be easier or harder than the whole test set: shift by the ELBO difference
        corrected = q["iw_nll"] + q["test_neg_elbo"] - q.get("iw_test_neg_elbo", q["test_neg_elbo"])
        met = "" if target is None else mark(corrected <= target and q.get("complete", True))
        hidden = c["hidden"] if "hidden" in c else f"{c['encoder_hidden']} (encoder), {c['decoder_hidden']} (decoder)"
        lines.append(
            f"| {name}: hidden {hidden}, latent {c['latent_dim']}, batch {c['batch_size']}, lr {c['lr']:g}"
            f"{' cosine' if c['cosine'] else ''}{', KL warm-up ' + str(c['kl_warmup']) if c['kl_warmup'] else ''} "
            f"| {done} | {q['test_neg_elbo']:.2f} | {q['iw_nll']:.2f} ± {q['iw_nll_std_error']:.2f}, k={q['iw_k']} "
            f"| {q.get('iw_test_images', q['test_images'])} | {q.get('iw_test_neg_elbo', q['test_neg_elbo']):.2f} "
            f"| {corrected:.2f} | {q['active_units']} | {q['train_seconds']:.0f} / {q.get('train_cpu_seconds', float('nan')):.0f} "
            f"| {'≤ ' + str(target) if target else ''} | {met} | `{q['command']}` |")
    lines += ["", "\\* The IW NLL on the images it was computed on, plus the difference between the −ELBO on "
              "all 10,000 test images and on those: an estimate of the full-set IW NLL, assuming the gap between "
              "the ELBO and the IW bound is the same on both. The target is checked against it."]
    return lines


def notebook_table(*reports):
    reports = [r for r in reports if r]
    if not reports:
        return ["Notebooks: not run yet (`python benchmarks/notebooks.py`)."]
    rows = {}
    for report in reports:
        for name, modes in report["notebooks"].items():
            for mode, result in modes.items():  # a result measured again (--update) names its own run
                rows.setdefault(name, {})[mode] = (result, result.get("run", report))
    lines = ["### Notebooks (fresh kernel each; seconds include starting the kernel)", "",
             "| Notebook | class mode s (≤ 120) | quick mode s (≤ 30) | peak memory GB (≤ 1) | ran | finished (load average at start) |",
             "|---|---|---|---|---|---|"]
    for name in sorted(rows):
        modes = rows[name]
        cell = lambda m, limit: "not run" if m not in modes else (
            f"{modes[m][0]['seconds']:.0f}" + ("" if modes[m][0]["seconds"] <= limit else " **over**")
            + (f" (CPU {modes[m][0]['kernel_cpu_seconds']:.0f})" if "kernel_cpu_seconds" in modes[m][0] else ""))
        peak = max(r["peak_memory_gb"] for r, _ in modes.values())
        ran = all(r["ok"] for r, _ in modes.values())
        when = "; ".join(f"{m}: {rep['when']} ({rep['load_average_at_start'][0]:.1f})" for m, (_, rep) in modes.items())
        errors = "; ".join(r["error"] for r, _ in modes.values() if r["error"])
        lines.append(f"| {name} | {cell('class', 120)} | {cell('quick', 30)} | {peak:.2f} | "
                     f"{'yes' if ran else '**no**: ' + errors} | {when} |")
    commands = sorted({rep["command"] for modes in rows.values() for _, rep in modes.values()})
    lines += ["", "Commands: " + ", ".join(f"`{c}`" for c in commands)]
    return lines


def browser_table(browser):
    if browser is None or "jupyterlab" not in browser.get("results", {}) and "site" not in browser.get("results", {}):
        return ["Widgets in a browser: not run yet (`python benchmarks/widget_redraw.py --browser`)."]
    target = browser["target"]["p90_ms"]
    places = [p for p in ("jupyterlab", "site") if p in browser["results"]]
    titles = {"jupyterlab": "JupyterLab", "site": "the site"}
    lines = [f"### Widgets in a browser ({browser['date']}; load average {browser['load_average_at_start'][0]:.1f} "
             "on 2 cores at the start)", "",
             f"{browser['what'][0].upper()}{browser['what'][1:]}. Target: p90 ≤ {target} ms for every explorer.", "",
             "| Explorer | " + " | ".join(f"{titles[p]}: median ms | p90 ms | n" for p in places) + " | Met |",
             "|---|" + "---|---|---|" * len(places) + "---|"]
    names = list(dict.fromkeys(name for p in places for name in browser["results"][p]))
    for name in names:
        cells, met = [], True
        for p in places:
            r = browser["results"][p].get(name)
            cells.append("not run | | " if r is None else f"{r['median_ms']:.1f} | {r['p90_ms']:.1f} | {r['n']}")
            met = met and r is not None and r["p90_ms"] <= target
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mark(met)} |")
    return lines + ["", f"Command: `{browser['command']}`"]


def beta_sweep_table(sweep):
    """Notebook 08's beta sweep (beta_sweep.py): per beta, mean and spread over seeds."""
    if sweep is None:
        return ["Beta sweep: not run yet (`python benchmarks/beta_sweep.py`)."]
    runs = sweep["runs"].values()
    betas = sorted({r["beta"] for r in runs})
    lines = [f"### Notebook 08's beta sweep ({sweep['dataset']}, {sweep['test_images']} test images; mean ± sd over "
             "seeds; active units per seed)", "",
             "| β | seeds | rate R | distortion D | −ELBO = R + D | active units | CPU-s per model |",
             "|--:|--:|--:|--:|--:|--|--:|"]

    def spread(values):
        mean = sum(values) / len(values)
        sd = (sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5
        return f"{mean:.2f} ± {sd:.2f}"

    for beta in betas:
        group = sorted((r for r in runs if r["beta"] == beta), key=lambda r: r["seed"])
        active = [sum(a > 0.01 for a in r["activity"]) for r in group]
        lines.append(f"| {beta:g} | {len(group)} | {spread([r['rate'] for r in group])} | "
                     f"{spread([r['distortion'] for r in group])} | {spread([r['neg_elbo'] for r in group])} | "
                     f"{', '.join(map(str, active))} | {spread([r['train_cpu_seconds'] for r in group])} |")
    commands = sorted({r["command"] for r in runs})
    return lines + ["", f"D₀ (independent Bernoulli pixels at the mean training image): "
                        f"{sweep['mean_image_distortion']:.2f} nats. Command: " + ", ".join(f"`{c}`" for c in commands)]


def conditional_table(report):
    """Notebook 11's conditional VAE against the VAE, seed by seed (benchmarks/conditional.py)."""
    if report is None:
        return ["Conditional VAE: not run yet (`python benchmarks/conditional.py mnist`)."]
    first = report["runs"][0]["first_test_images"]
    lines = [f"### Conditional VAE against VAE ({report['when']}; {report['dataset']}, nats per test image; "
             f"load average {report['load_average_before_after'][0]:.1f} at the start)", "",
             f"Bounds on all {report['runs'][0]['all_test_images']['images']:,} test images; importance sampling "
             f"(k = {first['k']}) on the first {first['images']:,}. Like for like: ELBO(x|y) + log p(y) − ELBO(x). "
             "Looseness: log p − ELBO. Fit: log p(x, y) − log p(x), ± its standard error over the images.", "",
             "| seed | models | ELBO(x\\|y) | ELBO(x) | like for like | KL: conditional VAE, VAE "
             "| looseness: conditional VAE, VAE | fit |",
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    for run in report["runs"]:
        every, some = run["all_test_images"], run["first_test_images"]
        m = lambda part, key: part[key]["mean"]  # noqa: E731
        lines.append(f"| {run['seed']} | {run['training']['cvae']['source']} | {m(every, 'cvae_elbo'):.2f} | "
                     f"{m(every, 'vae_elbo'):.2f} | {m(every, 'cvae_joint_bound_minus_vae_elbo'):.2f} | "
                     f"{m(every, 'cvae_kl'):.2f}, {m(every, 'vae_kl'):.2f} | {m(some, 'cvae_gap'):.2f}, "
                     f"{m(some, 'vae_gap'):.2f} | {m(some, 'cvae_log_joint_minus_vae_log_px'):.2f} ± "
                     f"{some['cvae_log_joint_minus_vae_log_px']['std_error']:.2f} |")
    return lines + ["", f"Command: `{report['command']}` ({report['cpu_seconds'] / 60:.0f} CPU-minutes)"]


def main():
    lines = [START, ""]
    speeds = [load(name) for name in ("speed.json", "speed_1thread.json") if load(name)]
    for speed in speeds or [None]:
        lines += speed_table(speed) + [""]
    lines += quality_table(load("quality.json")) + [""]
    lines += notebook_table(load("notebooks.json")) + [""]
    lines += beta_sweep_table(load("beta_sweep.json")) + [""]
    lines += browser_table(load("widget_browser.json"))
    lines += [""] + conditional_table(load("conditional.json"))
    lines += ["", END]
    readme = HERE / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} lacks the {START} ... {END} markers")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    from vae_lite._files import atomic_write

    atomic_write(readme, lambda f: f.write((before + "\n".join(lines) + after).encode()))
    print(f"updated {readme}")


if __name__ == "__main__":
    sys.exit(main())
