# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Fig. 1 of Ingrosso & Goldt in 2D
#
# A fully-connected network (`simulate --preset published`, K units) learns to tell two NLGP
# classes on a 20 x 20 torus apart; its Gaussian control (`--gaussian`, same covariances) is
# trained alongside. Panels: the final receptive fields of both as images (each centred on the
# circular mean of w^2), and the IPR (derivations/observables.md eq. (1)) of every unit against
# t, coloured by group: NLGP units localised at the end (IPR > 2 x 3/(D+2), the threshold of
# `analyze`), the other NLGP units, and the control. Settings and why:
# derivations/fig1-2d.md.
#
# Usage: `.venv/bin/python notebooks-export/fig1.py --out DIR [--quick] [--runs DIR]` (`make figures`;
# about 1-2 min on 2 cores, `--quick` about 10 s).

# %%
import argparse
import os
import shlex
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_run import centred, ipr, load  # noqa: E402

# The settings found in derivations/fig1-2d.md, section 2.
SETTINGS = ["--preset", "published", "--dim", "2", "--L", "20", "--xi0", "1", "--xi1", "3",
            "--gain", "10", "--lr", "0.2", "--saves", "40", "--quiet"]
FULL = dict(t_max=10000, seeds=2)
QUICK = dict(t_max=1000, seeds=1)
LOCALISED_FACTOR = 2.0


def simulate(binary, out, extra, options, reuse):
    """Runs (or with reuse, when OUT has a manifest, only names) one simulate run."""
    arguments = SETTINGS + ["--t-max", str(options["t_max"]), "--seeds", str(options["seeds"]),
                            "--out", out] + extra
    if not (reuse and os.path.exists(os.path.join(out, "manifest.json"))):
        subprocess.run([binary, "simulate"] + arguments, check=True)
    return "convemerge simulate " + " ".join(shlex.quote(a) for a in arguments)


def localised_units(nlgp):
    """Boolean mask (replicas, units) of the NLGP units localised at the last save."""
    d = nlgp["length"] ** nlgp["dimension"]
    return ipr(nlgp["weights"][:, -1]) > LOCALISED_FACTOR * 3 / (d + 2)


def draw(nlgp, control, localised, path):
    units = nlgp["weights"].shape[2]
    fig = plt.figure(figsize=(1.3 * units, 6.6), dpi=90)
    grid = fig.add_gridspec(3, units, height_ratios=[1, 1, 2.4], hspace=0.45)
    for row, (run, name) in enumerate(((nlgp, "NLGP"), (control, "control"))):
        for unit in range(units):
            axis = fig.add_subplot(grid[row, unit])
            image = centred(run["weights"][0, -1, unit], 2, run["length"])
            scale = np.abs(image).max()
            axis.imshow(image, cmap="RdBu_r", vmin=-scale, vmax=scale)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{name} {unit}\nIPR {ipr(run['weights'][0, -1, unit]):.3f}", fontsize=7)
    axis = fig.add_subplot(grid[2, :])
    t = np.maximum(nlgp["times"], 1e-3)
    for replica in range(nlgp["weights"].shape[0]):
        curves, controls = ipr(nlgp["weights"][replica]), ipr(control["weights"][replica])
        for unit in range(units):
            colour = "C3" if localised[replica, unit] else "C0"
            axis.plot(t, curves[:, unit], color=colour, lw=1)
            axis.plot(t, controls[:, unit], color="grey", lw=1)
    d = nlgp["length"] ** 2
    axis.axhline(3 / (d + 2), color="black", ls=":", lw=1)
    for colour, label in (("C3", "NLGP, localised"), ("C0", "NLGP, other"), ("grey", "Gaussian control"),
                          ("black", "3/(D+2): random vector")):
        axis.plot([], [], color=colour, ls=":" if colour == "black" else "-", label=label)
    axis.set(xscale="log", xlim=(0.1, t[-1] * 1.3), xlabel="t (SGD steps / D)", ylabel="IPR", title="IPR of every unit and replica")
    axis.legend(fontsize=8)
    fig.savefig(path, format="png")


def summary(nlgp, control, localised):
    final, controls = ipr(nlgp["weights"][:, -1]), ipr(control["weights"][:, -1])

    def cell(values):
        if not values.size:
            return "none"
        return f"{values.mean():.4f} (min {values.min():.4f}, max {values.max():.4f}, n = {values.size})"
    return [("NLGP localised", cell(final[localised])), ("NLGP other", cell(final[~localised])),
            ("Gaussian control", cell(controls))]


def main():
    parser = argparse.ArgumentParser(description="Fig. 1 of Ingrosso & Goldt in 2D")
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="t = 1000, one replica")
    parser.add_argument("--runs", default="runs/fig1", help="where the simulate runs go (not the export)")
    parser.add_argument("--reuse", action="store_true", help="draw the runs already in --runs")
    parser.add_argument("--binary", default=os.environ.get("CONVEMERGE", ".build/release/convemerge"))
    arguments = parser.parse_args()
    options = QUICK if arguments.quick else FULL
    os.makedirs(arguments.out, exist_ok=True)
    runs = arguments.runs
    commands = [simulate(arguments.binary, os.path.join(runs, "nlgp"), [], options, arguments.reuse),
                simulate(arguments.binary, os.path.join(runs, "control"), ["--gaussian"], options, arguments.reuse)]
    nlgp, control = load(os.path.join(runs, "nlgp")), load(os.path.join(runs, "control"))
    localised = localised_units(nlgp)
    draw(nlgp, control, localised, os.path.join(arguments.out, "fig1.png"))
    d = nlgp["length"] ** 2
    lines = ["# Fig. 1 of Ingrosso & Goldt in 2D (20 x 20, D = 400)", "",
             "Written by `notebooks-export/fig1.py` (`make figures`); settings and the search behind them:",
             "derivations/fig1-2d.md.", "", "![Fig. 1](fig1.png)", "",
             f"Final IPR at t = {options['t_max']} ({options['seeds']} replicas; random vector 3/(D+2) = "
             f"{3 / (d + 2):.4f}; localised: IPR > {LOCALISED_FACTOR:g} x 3/(D+2)):", "",
             "| group | mean final IPR |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in summary(nlgp, control, localised)]
    lines += ["", "Commands:", "", "```"] + commands + ["```", ""]
    with open(os.path.join(arguments.out, "fig1.md"), "w") as handle:
        handle.write("\n".join(lines))


if __name__ == "__main__":
    main()
