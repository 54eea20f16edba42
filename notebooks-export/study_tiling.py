"""Do the receptive fields of K units tile the ring, and do the closures predict it (issue 12 item 4, `make study-tiling`).

For committees of K = 4 and 8 relu units (fixed biases +b, -b, +b, ...) on rings of L = 40 and 100
sites (task xi: class 0 with correlation length 0.5, class 1 with 2, NLGP gain 3, targets 0, 1),
this runs from the same initial weights (one --seed):
  - the Monte Carlo and cumulant ODEs, `solve --model committee --K K --closure montecarlo|cumulant`;
  - online SGD, `simulate --model committee --K K` with several seeds;
then `analyze` on each run (unit IPRs, RF centres, mean nearest-neighbour spacing of the localised
units' centres against uniformly random centres and against even spacing, derivations/tiling-statistics.md)
and `compare` of each ODE with the simulation (units matched by permutation and common shift,
derivations/tiling-statistics.md §9-10). It writes tiling-study.md, tiling-study.json and a figure.

Tiled: at least two localised units and the nearest-neighbour spacing larger than for uniformly
random centres at p_even < 0.05. A command that refuses (exit status 2; e.g. a `solve` without
--model, before the K-unit ODE exists) is reported with its one-line reason, and the study goes on.

Robustness (issue 12 item 4): --w0-seeds 0,1,2,3 repeats everything for several initial weights; --small-lr 0.025 adds
SGD (and the cheap closures) at a smaller lr with lr t fixed, to see whether SGD is near its small-lr limit (the flow
depends on lr t alone). --closure-validity 8,100 measures, along the montecarlo trajectory of that configuration, the
right-hand sides of the closures against a larger Monte Carlo reference (tiling_closure_validity.py).

Usage: .venv/bin/python notebooks-export/study_tiling.py [--sources montecarlo,cumulant,simulate]
       [--smoke] [--units 8] [--lengths 40,100] [--w0-seeds 0,1,2,3] [--small-lr 0.025] [--closure-validity 8,100]
       [--runs runs/tiling --reuse-runs] [--out tiling-study.md]
(`make study-tiling` builds the binary and the venv first; --smoke is K = 4, L = 40, t = 20, ~10 s.)
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from study_common import Binary, fmt
from tiling_closure_validity import closure_validity, validity_conclusion, validity_figure, validity_section

SOURCES = ["montecarlo", "cumulant", "gaussian", "simulate"]
CLOSURES = ["montecarlo", "cumulant", "gaussian"]
P_TILED = 0.05


def settings(args):
    """The study's parameters; --smoke shrinks everything to a seconds-long run of the same path."""
    s = {"units": [4, 8], "lengths": [40, 100], "xi0": 0.5, "xi1": 2.0, "gain": 3.0, "bias": 0.5, "init_scale": 1.0,
         "lr": args.lr, "small_lr": args.small_lr, "batch": 4, "t_max": args.t_max, "saves": 40, "seeds": args.seeds,
         "w0_seeds": [int(x) for x in args.w0_seeds.split(",")] if args.w0_seeds else [args.seed], "seed": args.seed,
         "mc_samples": args.mc_samples, "null_samples": 10000, "validity": None}
    if args.smoke:
        s.update(units=[4], lengths=[40], t_max=20.0, saves=10, seeds=2, mc_samples=2000, null_samples=500)
    if args.units:
        s["units"] = [int(k) for k in args.units.split(",")]
    if args.lengths:
        s["lengths"] = [int(length) for length in args.lengths.split(",")]
    if args.closure_validity:
        units, length = (int(x) for x in args.closure_validity.split(","))
        s["validity"] = {"K": units, "L": length, "w0_seed": s["w0_seeds"][0], "reference_samples": args.reference_samples,
                         "states": args.validity_states, "step": 1e-3, "kurtosis_samples": 20000}
    return s


def schedules(s):
    """(lr, t_max) pairs: the study's, and with --small-lr the same lr * t at the smaller rate (SGD's small-lr limit)."""
    base = [(s["lr"], s["t_max"])]
    return base + ([(s["small_lr"], s["t_max"] * s["lr"] / s["small_lr"])] if s["small_lr"] else [])


def model_flags(s, units, length, w0_seed, lr, t_max, saves=None):
    """Task, network, initial weights and schedule: identical for solve and simulate."""
    return ["--L", str(length), "--xi0", str(s["xi0"]), "--xi1", str(s["xi1"]), "--gain", str(s["gain"]),
            "--targets", "0,1", "--activation", "relu", "--bias", str(s["bias"]), "--model", "committee", "--K", str(units),
            "--init-scale", str(s["init_scale"]), "--seed", str(w0_seed), "--lr", str(lr),
            "--t-max", str(t_max), "--saves", str(saves or s["saves"]), "--quiet"]


def closure_flags(s, closure, mc_seed=1):
    if closure != "montecarlo":
        return ["--closure", closure]
    return ["--closure", closure, "--mc-samples", str(s["mc_samples"])] + (["--mc-seed", str(mc_seed)] if mc_seed != 1 else [])


def train(binary, s, units, length, source, w0_seed, lr, t_max, mc_seed=1, reuse=False):
    """Runs one source into a directory named by everything the study varies (reused with --reuse-runs); (dir, refusal)."""
    out = f"K{units}-L{length}-w0s{w0_seed}-{source}-lr{lr:g}-t{t_max:g}"
    if source == "simulate":
        out += f"-S{s['seeds']}-B{s['batch']}"
        extra = ["simulate", "--seeds", str(s["seeds"]), "--batch", str(s["batch"])]
    else:
        out += (f"-M{s['mc_samples']}" + (f"-mcs{mc_seed}" if mc_seed != 1 else "")) if source == "montecarlo" else ""
        extra = ["solve"] + closure_flags(s, source, mc_seed)
    if reuse and os.path.exists(os.path.join(binary.work, out, "manifest.json")):
        return out, None
    print(f"study-tiling: {out}", file=sys.stderr)
    _, reason = binary.run(extra + model_flags(s, units, length, w0_seed, lr, t_max) + ["--out", out])
    return out, reason


def validity_run(binary, s, source, mc_seed, w0_seed, reuse):
    """The validity configuration's run of one source at the study's lr (the montecarlo ones with sample mc_seed)."""
    v = s["validity"]
    out, refused = train(binary, s, v["K"], v["L"], source, w0_seed, s["lr"], s["t_max"], mc_seed=mc_seed, reuse=reuse)
    if refused is not None:
        raise RuntimeError(f"{source}: {refused}")
    return out


def tiling(report):
    """The analyze JSON reduced to the study's columns."""
    nn = report.get("nearest_neighbour") or {}
    iprs = [u["ipr"] for u in report["units"] if u["ipr"] is not None]
    counts = report["localised_counts"]
    p_even = nn.get("p_even")
    return {
        "mean_unit_ipr": float(np.mean(iprs)) if iprs else None,
        "random_vector_ipr": report["random_vector_ipr"],
        "localised": float(np.mean(counts)) if counts else 0.0,
        "nn_spacing": nn.get("observed"), "nn_chance_mean": nn.get("null_mean"), "nn_chance_sd": nn.get("null_sd"),
        "p_even": p_even, "even_spacing": report.get("even_spacing"),
        "tiled": bool(p_even is not None and p_even < P_TILED and min(counts or [0]) >= 2),
    }


def study(binary, s, sources, reuse=False):
    """Every (K, L, w0 seed, schedule): each source trained and analysed, each ODE compared with SGD at its lr.
    Montecarlo runs only at the study's lr: the flow depends on lr t alone, so the small lr would repeat it."""
    records = []
    for units in s["units"]:
        for length in s["lengths"]:
            for w0_seed in s["w0_seeds"]:
                for index, (lr, t_max) in enumerate(schedules(s)):
                    runs, config = {}, []
                    for source in [x for x in SOURCES if x in sources and (index == 0 or x != "montecarlo")]:
                        out, refused = train(binary, s, units, length, source, w0_seed, lr, t_max, reuse=reuse)
                        record = {"K": units, "L": length, "w0_seed": w0_seed, "lr": lr, "t_max": t_max, "source": source,
                                  "refused": refused}
                        if refused is None:
                            report, reason = binary.json(["analyze", out, "--json", "--null-samples", str(s["null_samples"]),
                                                          "--seed", str(s["seed"])])
                            if report is None:
                                record["refused"] = f"analyze: {reason}"
                            else:
                                record.update(tiling(report))
                                runs[source] = out
                        config.append(record)
                    for record in config:
                        if record["source"] in CLOSURES and record["source"] in runs and "simulate" in runs:
                            comparison, reason = binary.json(["compare", "--theory", runs[record["source"]], "--sim", runs["simulate"], "--json"])
                            if comparison is None:
                                record["compare_refused"] = reason
                            else:
                                record["distance_seed_mean"] = comparison["distance"]
                                record["distance_per_seed"] = float(np.mean(comparison["seed_distances"]))
                                record["matching"] = comparison["seed_mean"]
                    records += config
    return records


def figure(records, s, path):
    """Final IPR and nearest-neighbour spacing per (K, L) and source at the study's lr, averaged over the w0 seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in records if r.get("refused") is None and r["lr"] == s["lr"]]
    configs = sorted({(r["K"], r["L"]) for r in done})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(SOURCES)

    def mean(source, config, value):
        values = [value(r) for r in done if r["source"] == source and (r["K"], r["L"]) == config and value(r) is not None]
        return float(np.mean(values)) if values else np.nan
    for index, source in enumerate(SOURCES):
        x = np.arange(len(configs)) + (index - 1) * width
        axes[0].bar(x, [mean(source, c, lambda r: r["mean_unit_ipr"]) for c in configs], width, label=source)
        axes[1].bar(x, [mean(source, c, lambda r: r["nn_spacing"] / r["even_spacing"] if r["nn_spacing"] is not None else None)
                        for c in configs], width, label=source)
        axes[1].scatter(x, [mean(source, c, lambda r: r["nn_chance_mean"] / r["even_spacing"] if r["nn_chance_mean"] is not None else None)
                            for c in configs], marker="_", s=200, color="k", zorder=3)
    labels = [f"K={k}, L={length}" for k, length in configs]
    for ax in axes:
        ax.set_xticks(np.arange(len(configs)), labels)
    seeds = f" (mean of {len(s['w0_seeds'])} w0 seeds)" if len(s["w0_seeds"]) > 1 else ""
    axes[0].set_ylabel("mean unit IPR (final)" + seeds)
    axes[1].set_ylabel("nearest-neighbour spacing / even spacing")
    axes[1].axhline(1, color="0.5", lw=0.5, ls=":")
    axes[1].set_title("bars: RF centres; black: uniformly random centres")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def verdict_tables(records, s):
    """Per (K, L, w0 seed, lr): SGD's verdict and each ODE's, right or wrong; then each source's count over w0 seeds."""
    lines = ["", "## Where the closures predict tiling", "",
             "| K | L | w0 seed | lr | SGD tiled | montecarlo | cumulant | gaussian |", "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["K"], r["L"], r["lr"]) for r in records}, key=lambda k: (k[0], k[1], -k[2]))
    for units, length, lr in keys:
        for w0_seed in s["w0_seeds"]:
            by_source = {r["source"]: r for r in records
                         if (r["K"], r["L"], r["lr"], r["w0_seed"]) == (units, length, lr, w0_seed)}
            truth = by_source.get("simulate", {}).get("tiled")

            def verdict(source):
                r = by_source.get(source)
                if r is None or r.get("refused") or r.get("tiled") is None:
                    return "-"
                return fmt(r["tiled"]) if truth is None else f"{fmt(r['tiled'])} ({'right' if r['tiled'] == truth else 'wrong'})"
            lines.append(f"| {units} | {length} | {w0_seed} | {lr:g} | {fmt(truth)} | {verdict('montecarlo')} | "
                         f"{verdict('cumulant')} | {verdict('gaussian')} |")
    if len(s["w0_seeds"]) > 1:
        lines += ["", f"Over the {len(s['w0_seeds'])} w0 seeds {','.join(map(str, s['w0_seeds']))}: tiled in n of them, "
                  "and the mean +- sd over w0 seeds of the final mean unit IPR, the localised units and the distance to SGD "
                  "(seed mean) at the same lr.", "",
                  "| K | L | lr | source | tiled | mean unit IPR | localised units | distance to SGD |", "|---|---|---|---|---|---|---|---|"]
        for units, length, lr in keys:
            for source in SOURCES:
                chosen = [r for r in records if (r["K"], r["L"], r["lr"], r["source"]) == (units, length, lr, source)
                          and not r.get("refused")]
                if not chosen:
                    continue

                def spread(key):
                    values = [r[key] for r in chosen if r.get(key) is not None]
                    return f"{fmt(np.mean(values))} +- {fmt(np.std(values, ddof=1) if len(values) > 1 else None)}" if values else "-"
                lines.append(f"| {units} | {length} | {lr:g} | {source} | {sum(r['tiled'] for r in chosen)}/{len(chosen)} | "
                             f"{spread('mean_unit_ipr')} | {spread('localised')} | {spread('distance_seed_mean')} |")
    return lines


def shown_command(command):
    """The study's command line without --binary PATH (a machine's path)."""
    words = command.split()
    return " ".join(w for i, w in enumerate(words) if w != "--binary" and (i == 0 or words[i - 1] != "--binary"))


def report(records, s, figure_path, version, validity=None, validity_figure_path=None):
    lines = [
        "# Do K units tile the ring, and do the closures predict it? (issue 12, item 4)", "",
        f"Generated by `{shown_command(s['command'])}` ({version}), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}. "
        f"Committee of K relu units with fixed biases +-{s['bias']:g}, readout 1/K; task xi ({s['xi0']:g} vs {s['xi1']:g}), "
        f"NLGP gain {s['gain']:g}, targets 0, 1; w0 ~ N(0, {s['init_scale']:g}^2) from seeds {','.join(map(str, s['w0_seeds']))} "
        f"(the same w0 for every source); lr = {s['lr']:g}, t = {s['t_max']:g}, {s['saves']} saves"
        + (f"; and SGD, cumulant and gaussian at lr = {s['small_lr']:g} with the same lr t (the flow depends on lr t alone)"
           if s["small_lr"] else "") + f". SGD: {s['seeds']} seeds, batch {s['batch']}; "
        f"montecarlo: {s['mc_samples']} inputs per class. Chance: {s['null_samples']} draws of uniformly random centres. "
        f"Tiled = >= 2 localised units (IPR > 2 x 3/(D+2)) and p_even < {P_TILED:g}. "
        "Distance: mean over units of |w_sim - w_ode| / |w_ode| after matching units by permutation and common shift "
        "(seed mean of the simulation; and each seed, averaged), against SGD at the same lr.", "",
        f"![tiling]({figure_path})", "",
        "| K | L | w0 seed | lr | source | mean unit IPR | localised units | NN spacing | chance (uniform) | even spacing | p_even | tiled "
        "| distance to SGD (seed mean) | distance to SGD (per seed) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        head = f"| {r['K']} | {r['L']} | {r['w0_seed']} | {r['lr']:g} | {r['source']} |"
        if r.get("refused"):
            lines.append(f"{head} refused: {r['refused']} |" + " |" * 8)
            continue
        chance = f"{fmt(r['nn_chance_mean'])} +- {fmt(r['nn_chance_sd'])}" if r["nn_chance_mean"] is not None else "-"
        lines.append(head + " " + " | ".join([
            fmt(r["mean_unit_ipr"]), fmt(r["localised"]), fmt(r["nn_spacing"]), chance,
            fmt(r["even_spacing"]), fmt(r["p_even"]), fmt(r["tiled"]),
            fmt(r.get("distance_seed_mean")), fmt(r.get("distance_per_seed"))]) + " |")
    lines += verdict_tables(records, s)
    if validity is not None:
        lines += validity_section(validity, s, validity_figure_path) + validity_conclusion(validity, records, s)
    return "\n".join(lines) + "\n"


def write_atomically(path, text):
    staging = path + ".tmp"
    with open(staging, "w") as stream:
        stream.write(text)
    os.replace(staging, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.environ.get("CONVEMERGE", ".build/release/convemerge"))
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated subset of " + ",".join(SOURCES))
    parser.add_argument("--smoke", action="store_true", help="K = 4, L = 40, t = 20, 2 seeds: the whole path in seconds")
    parser.add_argument("--units", default=None, help="comma-separated K (default 4,8)")
    parser.add_argument("--lengths", default=None, help="comma-separated L (default 40,100)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--small-lr", type=float, default=None,
                        help="also SGD, cumulant and gaussian at this lr with the same lr t (is SGD near its small-lr limit?)")
    parser.add_argument("--t-max", type=float, default=5000.0)
    parser.add_argument("--seeds", type=int, default=4, help="SGD replicas")
    parser.add_argument("--seed", type=int, default=0, help="seed of w0 (and of analyze's chance draws)")
    parser.add_argument("--w0-seeds", default=None, help="comma-separated w0 seeds (default: --seed)")
    parser.add_argument("--mc-samples", type=int, default=20000)
    parser.add_argument("--closure-validity", default=None, metavar="K,L",
                        help="the closures' right-hand sides along the montecarlo trajectory of K units on L sites (first w0 seed)")
    parser.add_argument("--reference-samples", type=int, default=400000, help="inputs per class of --closure-validity's reference")
    parser.add_argument("--validity-states", type=int, default=8, help="saved states probed by --closure-validity")
    parser.add_argument("--runs", default=None, help="keep the run directories here (default: a temporary directory)")
    parser.add_argument("--reuse-runs", action="store_true", help="with --runs: keep run directories that already exist")
    parser.add_argument("--render-only", action="store_true",
                        help="no runs: rewrite --out, its figures and conclusion from the .json next to it (a previous run's)")
    parser.add_argument("--out", default="tiling-study.md")
    parser.add_argument("--figure", default="notebooks-export/tiling_study_files/tiling.png")
    args = parser.parse_args(argv)
    sources = [x.strip() for x in args.sources.split(",") if x.strip()]
    unknown = [x for x in sources if x not in SOURCES]
    if unknown or not sources:
        parser.error(f"--sources: must be a comma-separated subset of {','.join(SOURCES)}, got {args.sources!r}")
    if args.small_lr is not None and not 0 < args.small_lr < args.lr:
        parser.error(f"--small-lr: must be in (0, --lr = {args.lr:g}), got {args.small_lr:g}")
    if args.reuse_runs and not args.runs:
        parser.error("--reuse-runs: needs --runs DIR")
    s = settings(args)
    s["command"] = " ".join(["notebooks-export/study_tiling.py"] + (sys.argv[1:] if argv is None else list(argv)))
    binary_path = os.path.abspath(args.binary)
    version = subprocess.run([binary_path, "--version"], capture_output=True, text=True).stdout.strip()
    json_path = os.path.splitext(args.out)[0] + ".json"
    if args.render_only:
        with open(json_path) as stream:
            saved = json.load(stream)
        render(args, saved["settings"], saved["records"], saved.get("closure_validity"), saved.get("version", version))
        return

    def run_all(work):
        binary = Binary(binary_path, work)
        records = study(binary, s, sources, reuse=args.reuse_runs)
        if not s["validity"]:
            return records, None
        v = s["validity"]
        return records, closure_validity(
            binary, s, lambda source, mc_seed, w0_seed: validity_run(binary, s, source, mc_seed, w0_seed, args.reuse_runs),
            lambda t_max, saves: model_flags(s, v["K"], v["L"], v["w0_seed"], s["lr"], t_max, saves),
            lambda closure: closure_flags(s, closure), cache=args.reuse_runs)
    if args.runs:
        os.makedirs(args.runs, exist_ok=True)
        records, validity = run_all(os.path.abspath(args.runs))
    else:
        with tempfile.TemporaryDirectory(prefix="study-tiling-") as work:
            records, validity = run_all(work)
    render(args, s, records, validity, version)
    write_atomically(json_path, json.dumps({"settings": s, "version": version, "records": records,
                                            "closure_validity": validity}, indent=1))
    print(f"study-tiling: wrote {args.out}", file=sys.stderr)


def render(args, s, records, validity, version):
    """The report and its figures from the measurements (also from a saved .json: --render-only)."""
    os.makedirs(os.path.dirname(os.path.abspath(args.figure)), exist_ok=True)
    figure(records, s, args.figure)
    base = os.path.dirname(os.path.abspath(args.out))
    validity_path = os.path.join(os.path.dirname(args.figure), "closure_validity.png")
    if validity is not None:
        validity_figure(validity, validity_path)
    write_atomically(args.out, report(records, s, os.path.relpath(args.figure, base), version, validity,
                                      os.path.relpath(validity_path, base)))


if __name__ == "__main__":
    main()
