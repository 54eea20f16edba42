# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Phase diagram heatmap
#
# Draws `DIR/phase.png` from `DIR/phase.csv` written by `convemerge phase` (or `phase merge`):
# one panel per measured order parameter, the final IPR of the ODE and the growth rate of the
# leading localising mode of the extended state (SPEC §5). The growth-rate panel uses a diverging
# colour map centred on 0 with the contour growth_rate = 0 (the critical line g_c) drawn in black.
# A `phase --engine sgd` sweep shows the replicas' mean unit IPR, test accuracy and the
# nearest-neighbour distance of localised centres (dashed: uniformly random centres). When one
# axis has a single value, or an sgd sweep's second axis has at most four (e.g. gaussian=0:1:2),
# the panels are curves against the other axis, with the replicas' standard deviation as error bars.
#
# Usage: `.venv/bin/python notebooks-export/plot_phase.py DIR`; the notebook `localisation.py`
# imports `figure(DIR)` to show the same heatmap inline.

# %%
import csv
import json
import math
import sys

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.colors import TwoSlopeNorm
import numpy as np


# Measured columns of the two engines, each with its standard-deviation column (or None).
COLUMNS = {"final_ipr": None, "growth_rate": None, "ipr_mean": "ipr_sd", "accuracy_mean": "accuracy_sd",
           "nn_distance": None, "nn_null_mean": None}
TITLES = {
    "final_ipr": ("final IPR of the ODE", "final IPR  (1/D extended ... 1 one site)"),
    "ipr_mean": ("unit IPR of the SGD networks", "mean unit IPR over replicas"),
    "accuracy_mean": ("test accuracy of the SGD networks", "test accuracy"),
    "nn_distance": ("spacing of localised RF centres", "mean nearest-neighbour distance (sites)"),
}


def load(directory):
    with open(f"{directory}/phase.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], rows[1:]
    xs = sorted({float(r[1]) for r in rows})
    ys = sorted({float(r[2]) for r in rows})
    grids = {}
    for column in [c for c in COLUMNS if c in header] + [s for s in COLUMNS.values() if s in header]:
        k = header.index(column)
        grid = np.full((len(ys), len(xs)), np.nan)
        for r in rows:
            value = float(r[k]) if r[k] != "nan" else math.nan
            grid[ys.index(float(r[2])), xs.index(float(r[1]))] = value
        if np.isfinite(grid).any():
            grids[column] = grid
    return header[1], header[2], np.array(xs), np.array(ys), grids


# Axis labels in words for the sweepable parameters of `convemerge phase`.
PARAMETER_LABELS = {
    "gain": "gain g of the nonlinearity",
    "xi": "correlation length xi (sites)",
    "xi0": "correlation length xi0 of class 0 (sites)",
    "xi1": "correlation length xi1 of class 1 (sites)",
    "L": "sites per side L",
    "lr": "learning rate",
    "bias": "bias b",
    "p1": "prior p1 of class 1",
    "jitter": "diagonal jitter",
    "init-scale": "scale of the initial weights",
    "t-max": "final time (SGD steps / D)",
    "xi-ratio": "xi1 / xi0",
    "gaussian": "inputs (0: NLGP, 1: Gaussian clone)",
}


def random_vector_ipr(directory):
    """3/(D+2), the IPR of a random Gaussian vector, when D is fixed over the sweep (else None)."""
    try:
        with open(f"{directory}/sweep.json") as handle:
            spec = json.load(handle)
    except (OSError, ValueError):
        return None
    if "L" in (spec["x"]["parameter"], spec["y"]["parameter"]):
        return None
    d = spec["base"]["length"] ** spec["base"]["dimension"]
    return 3 / (d + 2)


def curves(xname, yname, xs, ys, grids, reference_ipr=None):
    """Measured columns against the axis with several values, one curve per value of the other."""
    if len(xs) == 1 and len(ys) > 1:
        xname, yname, xs, ys = yname, xname, ys, xs
        grids = {column: grid.T for column, grid in grids.items()}
    shown = [c for c in ("final_ipr", "growth_rate", "ipr_mean", "accuracy_mean", "nn_distance") if c in grids]
    canvas, axes = plt.subplots(1, len(shown), figsize=(5.0 * len(shown), 4.0), squeeze=False)
    for axis, column in zip(axes[0], shown):
        for j, y in enumerate(ys):
            label = None if len(ys) == 1 else f"{yname} = {y:g}"
            if yname == "gaussian" and len(ys) > 1:
                label = "Gaussian clone" if y == 1 else "NLGP"
            spread = grids.get(COLUMNS[column])
            line = axis.errorbar(xs, grids[column][j], yerr=None if spread is None else spread[j], marker="o", capsize=3, label=label)
            if column == "nn_distance" and "nn_null_mean" in grids:
                axis.plot(xs, grids["nn_null_mean"][j], linestyle="--", color=line[0].get_color())
        title, label = TITLES.get(column, (column, column))
        axis.set_title(title + ("\n(dashed: random centres)" if column == "nn_distance" else ""))
        axis.set_xlabel(PARAMETER_LABELS.get(xname, xname))
        axis.set_ylabel(label)
        if column == "growth_rate":
            axis.axhline(0, color="black", linewidth=0.8)
        if column in ("final_ipr", "ipr_mean") and reference_ipr is not None:
            axis.axhline(reference_ipr, color="grey", linestyle=":", linewidth=1, label="random vector 3/(D+2)")
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    canvas.tight_layout()
    return canvas


def edges(values):
    """Cell edges for pcolormesh: midpoints, extended by half a step at both ends."""
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    middle = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - middle[0]], middle, [2 * values[-1] - middle[-1]]])


# %%
def figure(directory):
    """The heatmaps of DIR/phase.csv, one panel per measured order parameter."""
    xname, yname, xs, ys, grids = load(directory)
    simulated = "ipr_mean" in grids
    if min(len(xs), len(ys)) == 1 or (simulated and len(ys) <= 4):
        return curves(xname, yname, xs, ys, grids, random_vector_ipr(directory))
    shown = {c: g for c, g in grids.items() if c in ("final_ipr", "growth_rate", "ipr_mean", "accuracy_mean", "nn_distance")}
    canvas, axes = plt.subplots(1, len(shown), figsize=(5.2 * len(shown), 4.4), squeeze=False)
    for axis, (column, grid) in zip(axes[0], shown.items()):
        if column == "growth_rate":
            finite = grid[np.isfinite(grid)]
            # Each sign gets its own full colour range, so that weak decay still shows blue.
            tiny = 1e-12 * max(np.abs(finite).max(), 1)
            norm = TwoSlopeNorm(vcenter=0, vmin=min(finite.min(), -tiny), vmax=max(finite.max(), tiny))
            mesh = axis.pcolormesh(edges(xs), edges(ys), grid, cmap="RdBu_r", norm=norm)
            if len(xs) > 1 and len(ys) > 1 and finite.min() < 0 < finite.max():
                axis.contour(xs, ys, grid, levels=[0], colors="black", linewidths=1.2)
            label = "growth rate (per unit t)"
            title = "growth rate of the extended state\n(black: growth rate = 0)"
            ticks = np.concatenate([np.linspace(norm.vmin, 0, 3), np.linspace(0, norm.vmax, 5)[1:]])
        else:
            mesh = axis.pcolormesh(edges(xs), edges(ys), grid, cmap="viridis")
            title, label = TITLES[column]
            ticks = None
        canvas.colorbar(mesh, ax=axis, label=label, ticks=ticks, format="%.2g" if column == "growth_rate" else "%.3g")
        axis.grid(False)
        axis.set_xlabel(PARAMETER_LABELS.get(xname, xname))
        axis.set_ylabel(PARAMETER_LABELS.get(yname, yname))
        axis.set_title(title)
    canvas.tight_layout()
    return canvas


def plot(directory):
    canvas = figure(directory)
    canvas.savefig(f"{directory}/phase.png", dpi=130)
    plt.close(canvas)


# %%
if __name__ == "__main__":
    # Headless: no display is needed to write the PNG.
    plt.switch_backend("Agg")
    if len(sys.argv) != 2:
        sys.exit("usage: plot_phase.py DIR  (DIR/phase.csv from `convemerge phase`)")
    plot(sys.argv[1])
