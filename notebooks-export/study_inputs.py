"""Which theory predicts localisation, on which inputs (issue 9, `make study-inputs`).

For the SPEC §3 task shape (ring of L = 40 sites, relu neuron without bias, latent kernel
exp(-d^2/xi^2) with xi = 2) in the clone task (class 1: the family, class 0: its Gaussian
clone with the same covariance), and both target assignments (y = 0,1: target 1 on the
non-Gaussian class; y = 1,0: target 1 on the clone), this runs for every input family:
online SGD (`simulate`, several seeds), the Monte Carlo ODE (`solve --closure montecarlo`),
the other closures (gaussian, cumulant, conditional, lufkin), and `criterion` (marginal
moments, Lufkin's net cubic term, the cumulant closure's growth rate), then writes the
markdown report `inputs-study.md` and its figure.

A receptive field counts as localised when its final IPR is more than twice the gaussian
closure's from the same initial weights (the gaussian closure sees only the covariance,
which is the same in both classes here, and stays extended). A command that refuses a
family (exit status 2) is reported with its one-line reason, not hidden.

Usage: .venv/bin/python notebooks-export/study_inputs.py --rows rows.npy [--out inputs-study.md]
(`make study-inputs` builds the binary, the venv and the rows first).
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

LENGTH = 40
XI = 2.0
T_MAX = 150
SEEDS = 4
BATCH = 64
LEARNING_RATE = 1.0
MC_SAMPLES = 20000
CLOSURES = ["gaussian", "cumulant", "conditional", "lufkin", "montecarlo"]
ASSIGNMENTS = ["0,1", "1,0"]


def families(rows, patch_rows=None):
    """(label, extra flags) of every input family in the study."""
    listed = [(f"nlgp g={g}", ["--gain", str(g)]) for g in (0.5, 1, 3)]
    listed += [(f"copula:{m}", ["--inputs", f"copula:{m}"])
               for m in ("sign", "uniform", "laplace", "logistic", "student:5", "alg:5", "alg:10", "exponential")]
    listed += [(f"elliptical:{r}", ["--inputs", f"elliptical:{r}"]) for r in ("student:5", "shell")]
    if rows:
        listed += [("image rows", ["--inputs", f"data:{rows}", "--stationarity", "raw"]),
                   ("image rows, sign-symmetrised", ["--inputs", f"data:{rows}", "--stationarity", "raw", "--symmetrise", "sign"])]
    if patch_rows:
        listed += [("image rows, crop mean removed", ["--inputs", f"data:{patch_rows}", "--stationarity", "raw"]),
                   ("image rows, crop mean removed, sign-symmetrised",
                    ["--inputs", f"data:{patch_rows}", "--stationarity", "raw", "--symmetrise", "sign"])]
    return listed


def final_ipr(weights):
    w = np.asarray(weights)
    return float(np.sum(w ** 4) / np.sum(w ** 2) ** 2)


def task_flags(family_flags, targets):
    return ["--L", str(LENGTH), "--xi", str(XI), "--task", "clone", "--targets", targets,
            "--activation", "relu", "--bias", "0"] + family_flags


def solve(binary, family_flags, targets, closure, name):
    out = f"runs/{name}"
    arguments = ["solve"] + task_flags(family_flags, targets) + [
        "--closure", closure, "--t-max", str(T_MAX), "--lr", str(LEARNING_RATE), "--saves", "20", "--seed", "0", "--quiet", "--out", out]
    if closure == "montecarlo":
        arguments += ["--mc-samples", str(MC_SAMPLES)]
    _, reason = binary.run(arguments)
    if reason:
        return None, reason
    return final_ipr(np.load(os.path.join(binary.work, out, "weights.npy"))[-1]), None


def simulate(binary, family_flags, targets, name):
    out = f"runs/{name}"
    _, reason = binary.run(["simulate"] + task_flags(family_flags, targets) + [
        "--lr", str(LEARNING_RATE), "--batch", str(BATCH), "--seeds", str(SEEDS), "--t-max", str(T_MAX),
        "--seed", "0", "--quiet", "--out", out])
    if reason:
        return None, reason
    weights = np.load(os.path.join(binary.work, out, "weights.npy"))  # seeds x saves x D
    return float(np.mean([final_ipr(replica[-1]) for replica in weights])), None


def criterion(binary, family_flags, targets):
    stdout, reason = binary.run(["criterion"] + task_flags(family_flags, targets) + [
        "--t-max", str(T_MAX), "--quiet", "--json"])
    return (json.loads(stdout), None) if stdout else (None, reason)


def study(binary, rows, patch_rows=None, reused=(), rerun=()):
    """Every family and assignment; records of `reused` (an earlier study's JSON) are kept unless
    their label starts with one of `rerun`."""
    kept = {(r["inputs"], r["targets"]): r for r in reused if not any(r["inputs"].startswith(p) for p in rerun)}
    records = []
    for label, flags in families(rows, patch_rows):
        for targets in ASSIGNMENTS:
            if (label, targets) in kept:
                records.append(kept[(label, targets)])
                continue
            slug = "".join(c if c.isalnum() else "-" for c in f"{label}-{targets}")
            print(f"study: {label}, targets {targets}", file=sys.stderr)
            record = {"inputs": label, "targets": targets, "ipr": {}, "refused": {}}
            for closure in CLOSURES:
                value, reason = solve(binary, flags, targets, closure, f"{slug}-{closure}")
                record["ipr"][closure] = value
                if reason:
                    record["refused"][closure] = reason
            record["ipr"]["sgd"], reason = simulate(binary, flags, targets, f"{slug}-sgd")
            if reason:
                record["refused"]["sgd"] = reason
            record["criterion"], reason = criterion(binary, flags, targets)
            if reason:
                record["refused"]["criterion"] = reason
            records.append(record)
    return records


def localised(record, key):
    value, reference = record["ipr"].get(key), record["ipr"].get("gaussian")
    if value is None or reference is None:
        return None
    return value > 2 * reference


def predictions(record):
    """Each predictor's yes/no/None on localisation."""
    verdicts = {closure: localised(record, closure) for closure in ("cumulant", "conditional", "lufkin", "montecarlo")}
    report = record["criterion"]
    if report:
        verdicts["Lufkin sign"] = report["lufkin"]["predicts_localisation"]
        verdict = report["instability"]["cumulant_prediction"]
        verdicts["cumulant growth"] = None if verdict in (None, "marginal") else verdict == "localises"
    return verdicts


def figure(records, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True)
    markers = {"montecarlo": "o", "cumulant": "s", "conditional": "^", "lufkin": "D", "gaussian": "x"}
    for ax, targets in zip(axes, ASSIGNMENTS):
        chosen = [r for r in records if r["targets"] == targets]
        x = np.arange(len(chosen))
        ax.bar(x, [r["ipr"]["sgd"] or 0 for r in chosen], color="0.8", label="online SGD (mean of seeds)")
        for closure, marker in markers.items():
            ax.scatter(x, [r["ipr"][closure] if r["ipr"][closure] is not None else np.nan for r in chosen],
                       marker=marker, label=f"{closure} ODE", zorder=3)
        ax.axhline(1 / LENGTH, color="k", lw=0.5, ls=":")
        ax.set_xticks(x, [r["inputs"] for r in chosen], rotation=70, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"targets y0,y1 = {targets}")
    axes[0].set_ylabel(f"final IPR at t = {T_MAX} (1/D = {1 / LENGTH:g} dotted)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(records, rows, figure_path, version):
    lines = [
        "# Which theory predicts localisation, on which inputs (issue 9)",
        "",
        f"Generated by `notebooks-export/study_inputs.py` ({version}), "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}. "
        f"Clone task on a ring of L = {LENGTH} sites (xi = {XI:g}, gaussian kernel), relu neuron without bias, "
        f"lr = {LEARNING_RATE:g}, t = {T_MAX}; SGD: {SEEDS} seeds, batch {BATCH}; montecarlo: {MC_SAMPLES} inputs per class. "
        "Localised = final IPR more than twice the gaussian closure's from the same initial weights.",
        "",
    ]
    if rows:
        lines += [f"Image rows: `{rows}` (notebooks-export/make_patches.py, skimage.data photographs, per-pixel standardised; "
                  "'crop mean removed': `--standardise patch`).", ""]
    lines += [f"![final IPRs]({figure_path})", "",
              "| inputs | targets | skew | excess kurtosis | SGD | montecarlo | gaussian | cumulant | conditional | lufkin | Lufkin net cubic | cumulant growth rate |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        c = r["criterion"]
        marginal = next((entry for entry in (c["classes"] if c else []) if entry["excess_kurtosis"] != 0 or entry["skewness"] != 0), None)
        lines.append("| " + " | ".join([
            r["inputs"], r["targets"],
            fmt(marginal["skewness"]) if marginal else "-", fmt(marginal["excess_kurtosis"]) if marginal else "-",
            fmt(r["ipr"]["sgd"]), *[fmt(r["ipr"][k]) for k in ("montecarlo", "gaussian", "cumulant", "conditional", "lufkin")],
            fmt(c["lufkin"]["net_cubic"]) if c else "-",
            (fmt(c["instability"]["cumulant_growth_rate"]) + (" (marginal)" if c["instability"]["cumulant_prediction"] == "marginal" else "")) if c else "-",
        ]) + " |")
    lines += ["", "## Which predictor gets the sign right", "",
              "Truth: online SGD localised (mean final IPR over seeds > 2 x gaussian closure's). "
              "A predictor that has no answer (refused, or a marginal growth rate) is not counted.", "",
              "| predictor | right | wrong | no answer | wrong on |", "|---|---|---|---|---|"]
    names = ["montecarlo", "cumulant", "conditional", "lufkin", "Lufkin sign", "cumulant growth"]
    tally = {name: [0, 0, 0, []] for name in names}
    for r in records:
        truth = localised(r, "sgd")
        verdicts = predictions(r)
        for name in names:
            verdict = verdicts.get(name)
            if truth is None or verdict is None:
                tally[name][2] += 1
            elif verdict == truth:
                tally[name][0] += 1
            else:
                tally[name][1] += 1
                tally[name][3].append(f"{r['inputs']} ({r['targets']})")
    for name in names:
        right, wrong, none, where = tally[name]
        lines.append(f"| {name} | {right} | {wrong} | {none} | {', '.join(where) or '-'} |")
    refusals = [(r["inputs"], r["targets"], what, why) for r in records for what, why in r["refused"].items()]
    if refusals:
        lines += ["", "## Refused", "", "| inputs | targets | what | reason |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in refusals]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.environ.get("CONVEMERGE", ".build/release/convemerge"))
    parser.add_argument("--rows", default=None, help="image rows .npy (make_patches.py --L 40); omitted: no data rows")
    parser.add_argument("--patch-rows", default=None, help="the same with each crop's mean removed (make_patches.py --standardise patch)")
    parser.add_argument("--out", default="inputs-study.md")
    parser.add_argument("--figure", default="notebooks-export/inputs_study_files/final_ipr.png")
    parser.add_argument("--reuse", default=None, help="an earlier study's JSON: its records are kept ...")
    parser.add_argument("--rerun", action="append", default=[], help="... except those whose label starts with this (repeatable)")
    args = parser.parse_args(argv)
    binary_path = os.path.abspath(args.binary)
    rows = os.path.abspath(args.rows) if args.rows else None
    version = subprocess.run([binary_path, "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="study-inputs-") as work:
        reused = json.load(open(args.reuse)) if args.reuse else []
        patch_rows = os.path.abspath(args.patch_rows) if args.patch_rows else None
        records = study(Binary(binary_path, work), rows, patch_rows, reused, args.rerun)
    os.makedirs(os.path.dirname(args.figure), exist_ok=True)
    figure(records, args.figure)
    text = report(records, args.rows, os.path.relpath(args.figure, os.path.dirname(os.path.abspath(args.out))), version)
    staging = args.out + ".tmp"
    with open(staging, "w") as stream:
        stream.write(text)
    os.replace(staging, args.out)
    records_path = os.path.splitext(args.out)[0] + ".json"
    with open(records_path + ".tmp", "w") as stream:
        json.dump(records, stream, indent=1)
    os.replace(records_path + ".tmp", records_path)
    print(f"study: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
