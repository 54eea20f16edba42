# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Figures of a run
#
# Draws one `solve` or `simulate` run directory, or a solve run and a simulate run together
# (what `compare` compares): the final receptive fields, one panel per unit, each rolled so
# that its centre (circular mean of w^2, derivations/observables.md eq. (3)) sits in the middle
# of the lattice; then IPR (derivations/observables.md eq. (1)) and loss against t on a log axis.
#
# Usage: `.venv/bin/python notebooks-export/plot_run.py --out FILE.png RUN [SIM_RUN]`
# (`convemerge plot` runs it and writes FILE.png atomically).

# %%
import argparse
import csv
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

# At most this many unit panels: a K = 4096 committee is summarised by its first units.
MAX_PANELS = 16


def load(directory):
    with open(f"{directory}/manifest.json") as handle:
        manifest = json.load(handle)
    lattice = manifest["parameters"]["task"]["classes"][0]["lattice"]
    weights = np.load(f"{directory}/weights.npy")
    times = np.load(f"{directory}/times.npy")
    command = manifest["command"]
    model = "ode" if command == "solve" else manifest["parameters"].get("model", "neuron")
    # Always (replicas, saves, units, weights per unit).
    if command == "solve":
        weights = weights[None, :, None, :]
    elif weights.ndim == 3:
        weights = weights[:, :, None, :]
    loss = {}
    files = [f"{directory}/observables.csv"] if command == "solve" else \
        [f"{directory}/observables_seed{k}.csv" for k in range(weights.shape[0])]
    for k, name in enumerate(files):
        try:
            with open(name, newline="") as handle:
                rows = list(csv.reader(handle))
        except FileNotFoundError:
            continue
        column = rows[0].index("loss" if command == "solve" else "test_loss")
        loss[k] = (np.array([float(r[0]) for r in rows[1:]]), np.array([float(r[column]) for r in rows[1:]]))
    return dict(directory=directory, command=command, model=model, dimension=lattice["dimension"],
                length=lattice["length"], weights=weights, times=times, loss=loss)


def ipr(w):
    """IPR along the last axis (derivations/observables.md eq. (1))."""
    w2 = w * w
    return (w2 * w2).sum(-1) / w2.sum(-1) ** 2


def centred(w, dimension, length):
    """w rolled so that the circular mean of w^2 along each axis lands on site L // 2."""
    image = w.reshape((length,) * dimension)
    phase = 2 * np.pi * np.arange(length) / length
    for axis in range(dimension):
        marginal = (image * image).sum(axis=tuple(a for a in range(dimension) if a != axis))
        angle = math.atan2((marginal * np.sin(phase)).sum(), (marginal * np.cos(phase)).sum())
        centre = int(round(angle / (2 * np.pi) * length)) % length
        image = np.roll(image, length // 2 - centre, axis=axis)
    return image


def draw_fields(figure, grid, runs):
    """Final RFs: one panel per unit of the first replica (1D: every replica of a neuron run
    and the ODE drawn over each other); CNN filters are drawn as they are."""
    base = runs[-1]
    units = min(base["weights"].shape[2], MAX_PANELS)
    columns = min(units, 8)
    rows = math.ceil(units / columns)
    inner = grid.subgridspec(rows, columns, wspace=0.3, hspace=0.4)
    for unit in range(units):
        axis = figure.add_subplot(inner[unit // columns, unit % columns])
        for run in runs:
            final = run["weights"][:, -1, min(unit, run["weights"].shape[2] - 1), :]
            filters = run["model"] == "cnn"
            if run["dimension"] == 2 and not filters:
                image = centred(final[0], 2, run["length"])
                scale = np.abs(image).max()
                axis.imshow(image, cmap="RdBu_r", vmin=-scale, vmax=scale)
                axis.set_xticks([])
                axis.set_yticks([])
                continue
            ode = run["command"] == "solve"
            replicas = final if base["model"] in ("neuron", "ode") or filters else final[:1]
            for k, w in enumerate(replicas):
                curve = w if filters else centred(w, 1, run["length"])
                axis.plot(curve, color="black" if ode else f"C{k % 10}", lw=2 if ode else 1,
                          alpha=1 if ode else 0.7, label="ODE" if ode else (f"SGD seed {k}" if unit == 0 else None))
        axis.set_title(f"unit {unit}" if base["weights"].shape[2] > 1 else "receptive field", fontsize=8)
        axis.tick_params(labelsize=6)
        if unit == 0 and len(runs) == 2:
            axis.legend(fontsize=6)


def draw_curves(figure, grid, runs):
    inner = grid.subgridspec(1, 2, wspace=0.35)
    ipr_axis, loss_axis = figure.add_subplot(inner[0]), figure.add_subplot(inner[1])
    for run in runs:
        ode = run["command"] == "solve"
        t = np.maximum(run["times"], 1e-3)
        curves = ipr(run["weights"])  # (replicas, saves, units)
        for replica in range(curves.shape[0]):
            for unit in range(min(curves.shape[2], MAX_PANELS)):
                colour = "black" if ode else (f"C{unit % 10}" if curves.shape[2] > 1 else f"C{replica % 10}")
                ipr_axis.plot(t, curves[replica, :, unit], color=colour, lw=2 if ode else 0.8, alpha=1 if ode else 0.7)
        for k, (times, values) in run["loss"].items():
            loss_axis.plot(np.maximum(times, 1e-3), values, color="black" if ode else f"C{k % 10}",
                           lw=2 if ode else 0.8, label="ODE" if ode else f"SGD seed {k}")
    d = runs[-1]["length"] ** runs[-1]["dimension"]
    ipr_axis.axhline(3 / (d + 2), color="grey", ls=":", lw=1, label="random vector 3/(D+2)")
    ipr_axis.set(xscale="log", xlabel="t (SGD steps / D)", ylabel="IPR", title="IPR per unit and replica")
    ipr_axis.legend(fontsize=7)
    loss_axis.set(xscale="log", yscale="log", xlabel="t (SGD steps / D)", ylabel="loss", title="loss (test loss for SGD)")
    if len(loss_axis.get_lines()) <= 10:
        loss_axis.legend(fontsize=7)


def figure(directories):
    runs = [load(d) for d in directories]
    units = min(runs[-1]["weights"].shape[2], MAX_PANELS)
    rows = math.ceil(units / 8)
    fig = plt.figure(figsize=(10, 2.2 * rows + 3.4), dpi=80)
    grid = fig.add_gridspec(2, 1, height_ratios=[2.2 * rows, 3.0], hspace=0.35)
    draw_fields(fig, grid[0], runs)
    draw_curves(fig, grid[1], runs)
    title = " vs ".join(f"{r['command']} {r['model']} ({r['directory']})" for r in runs)
    fig.suptitle(f"{title}; L = {runs[-1]['length']}, dim {runs[-1]['dimension']}", fontsize=9)
    return fig


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("runs", nargs="+")
    arguments = parser.parse_args()
    figure(arguments.runs).savefig(arguments.out, format="png")
