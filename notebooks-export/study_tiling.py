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

Usage: .venv/bin/python notebooks-export/study_tiling.py [--sources montecarlo,cumulant,simulate]
       [--smoke] [--out tiling-study.md]
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

SOURCES = ["montecarlo", "cumulant", "gaussian", "simulate"]
CLOSURES = ["montecarlo", "cumulant", "gaussian"]
P_TILED = 0.05


def settings(args):
    """The study's parameters; --smoke shrinks everything to a seconds-long run of the same path."""
    s = {"units": [4, 8], "lengths": [40, 100], "xi0": 0.5, "xi1": 2.0, "gain": 3.0, "bias": 0.5, "init_scale": 1.0,
         "lr": args.lr, "batch": 4, "t_max": args.t_max, "saves": 40, "seeds": args.seeds, "seed": args.seed,
         "mc_samples": args.mc_samples, "null_samples": 10000}
    if args.smoke:
        s.update(units=[4], lengths=[40], t_max=20.0, saves=10, seeds=2, mc_samples=2000, null_samples=500)
    if args.units:
        s["units"] = [int(k) for k in args.units.split(",")]
    if args.lengths:
        s["lengths"] = [int(length) for length in args.lengths.split(",")]
    return s


def model_flags(s, units, length):
    """Task, network, initial weights and schedule: identical for solve and simulate."""
    return ["--L", str(length), "--xi0", str(s["xi0"]), "--xi1", str(s["xi1"]), "--gain", str(s["gain"]),
            "--targets", "0,1", "--activation", "relu", "--bias", str(s["bias"]), "--model", "committee", "--K", str(units),
            "--init-scale", str(s["init_scale"]), "--seed", str(s["seed"]), "--lr", str(s["lr"]),
            "--t-max", str(s["t_max"]), "--saves", str(s["saves"]), "--quiet"]


def train(binary, s, units, length, source, out):
    if source == "simulate":
        extra = ["simulate", "--seeds", str(s["seeds"]), "--batch", str(s["batch"])]
    else:
        extra = ["solve", "--closure", source] + (["--mc-samples", str(s["mc_samples"])] if source == "montecarlo" else [])
    _, reason = binary.run(extra + model_flags(s, units, length) + ["--out", out])
    return reason


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


def study(binary, s, sources):
    records = []
    for units in s["units"]:
        for length in s["lengths"]:
            runs, config = {}, []
            for source in [x for x in SOURCES if x in sources]:
                print(f"study-tiling: K = {units}, L = {length}, {source}", file=sys.stderr)
                out = f"runs/K{units}-L{length}-{source}"
                record = {"K": units, "L": length, "source": source, "refused": train(binary, s, units, length, source, out)}
                if record["refused"] is None:
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


def figure(records, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in records if r.get("refused") is None]
    configs = sorted({(r["K"], r["L"]) for r in done})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(SOURCES)
    for index, source in enumerate(SOURCES):
        chosen = {(r["K"], r["L"]): r for r in done if r["source"] == source}
        x = np.arange(len(configs)) + (index - 1) * width
        axes[0].bar(x, [chosen[c]["mean_unit_ipr"] if c in chosen else np.nan for c in configs], width, label=source)
        ratio = [chosen[c]["nn_spacing"] / chosen[c]["even_spacing"]
                 if c in chosen and chosen[c]["nn_spacing"] is not None else np.nan for c in configs]
        chance = [chosen[c]["nn_chance_mean"] / chosen[c]["even_spacing"]
                  if c in chosen and chosen[c]["nn_chance_mean"] is not None else np.nan for c in configs]
        axes[1].bar(x, ratio, width, label=source)
        axes[1].scatter(x, chance, marker="_", s=200, color="k", zorder=3)
    labels = [f"K={k}, L={length}" for k, length in configs]
    for ax in axes:
        ax.set_xticks(np.arange(len(configs)), labels)
    axes[0].set_ylabel("mean unit IPR (final)")
    axes[1].set_ylabel("nearest-neighbour spacing / even spacing")
    axes[1].axhline(1, color="0.5", lw=0.5, ls=":")
    axes[1].set_title("bars: RF centres; black: uniformly random centres")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(records, s, figure_path, version):
    lines = [
        "# Do K units tile the ring, and do the closures predict it? (issue 12, item 4)", "",
        f"Generated by `notebooks-export/study_tiling.py` ({version}), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}. "
        f"Committee of K relu units with fixed biases +-{s['bias']:g}, readout 1/K; task xi ({s['xi0']:g} vs {s['xi1']:g}), "
        f"NLGP gain {s['gain']:g}, targets 0, 1; w0 ~ N(0, {s['init_scale']:g}^2) from seed {s['seed']} for every source; "
        f"lr = {s['lr']:g}, t = {s['t_max']:g}, {s['saves']} saves. SGD: {s['seeds']} seeds, batch {s['batch']}; "
        f"montecarlo: {s['mc_samples']} inputs per class. Chance: {s['null_samples']} draws of uniformly random centres. "
        f"Tiled = >= 2 localised units (IPR > 2 x 3/(D+2)) and p_even < {P_TILED:g}. "
        "Distance: mean over units of |w_sim - w_ode| / |w_ode| after matching units by permutation and common shift "
        "(seed mean of the simulation; and each seed, averaged).", "",
        f"![tiling]({figure_path})", "",
        "| K | L | source | mean unit IPR | localised units | NN spacing | chance (uniform) | even spacing | p_even | tiled "
        "| distance to SGD (seed mean) | distance to SGD (per seed) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r.get("refused"):
            lines.append(f"| {r['K']} | {r['L']} | {r['source']} | refused: {r['refused']} |" + " |" * 8)
            continue
        chance = f"{fmt(r['nn_chance_mean'])} +- {fmt(r['nn_chance_sd'])}" if r["nn_chance_mean"] is not None else "-"
        lines.append("| " + " | ".join([
            str(r["K"]), str(r["L"]), r["source"], fmt(r["mean_unit_ipr"]), fmt(r["localised"]), fmt(r["nn_spacing"]), chance,
            fmt(r["even_spacing"]), fmt(r["p_even"]), fmt(r["tiled"]),
            fmt(r.get("distance_seed_mean")), fmt(r.get("distance_per_seed"))]) + " |")
    lines += ["", "## Where the closures predict tiling", "",
              "| K | L | SGD tiled | montecarlo | cumulant |", "|---|---|---|---|---|"]
    for units in s["units"]:
        for length in s["lengths"]:
            by_source = {r["source"]: r for r in records if r["K"] == units and r["L"] == length}
            truth = by_source.get("simulate", {}).get("tiled")

            def verdict(source):
                r = by_source.get(source)
                if r is None or r.get("refused") or r.get("tiled") is None:
                    return "-"
                if truth is None:
                    return fmt(r["tiled"])
                return f"{fmt(r['tiled'])} ({'right' if r['tiled'] == truth else 'wrong'})"
            lines.append(f"| {units} | {length} | {fmt(truth)} | {verdict('montecarlo')} | {verdict('cumulant')} |")
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
    parser.add_argument("--t-max", type=float, default=5000.0)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mc-samples", type=int, default=20000)
    parser.add_argument("--runs", default=None, help="keep the run directories here (default: a temporary directory)")
    parser.add_argument("--out", default="tiling-study.md")
    parser.add_argument("--figure", default="notebooks-export/tiling_study_files/tiling.png")
    args = parser.parse_args(argv)
    sources = [x.strip() for x in args.sources.split(",") if x.strip()]
    unknown = [x for x in sources if x not in SOURCES]
    if unknown or not sources:
        parser.error(f"--sources: must be a comma-separated subset of {','.join(SOURCES)}, got {args.sources!r}")
    s = settings(args)
    binary_path = os.path.abspath(args.binary)
    version = subprocess.run([binary_path, "--version"], capture_output=True, text=True).stdout.strip()
    if args.runs:
        os.makedirs(args.runs, exist_ok=True)
        records = study(Binary(binary_path, os.path.abspath(args.runs)), s, sources)
    else:
        with tempfile.TemporaryDirectory(prefix="study-tiling-") as work:
            records = study(Binary(binary_path, work), s, sources)
    os.makedirs(os.path.dirname(os.path.abspath(args.figure)), exist_ok=True)
    figure(records, args.figure)
    write_atomically(args.out, report(records, s, os.path.relpath(args.figure, os.path.dirname(os.path.abspath(args.out))), version))
    write_atomically(os.path.splitext(args.out)[0] + ".json", json.dumps({"settings": s, "records": records}, indent=1))
    print(f"study-tiling: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
