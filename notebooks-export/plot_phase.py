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
#
# Usage: `.venv/bin/python notebooks-export/plot_phase.py DIR`; the notebook `localisation.py`
# imports `figure(DIR)` to show the same heatmap inline.

# %%
import csv
import math
import sys

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.colors import TwoSlopeNorm
import numpy as np


def load(directory):
    with open(f"{directory}/phase.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], rows[1:]
    xs = sorted({float(r[1]) for r in rows})
    ys = sorted({float(r[2]) for r in rows})
    grids = {}
    for column in ("final_ipr", "growth_rate"):
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
}


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
    canvas, axes = plt.subplots(1, len(grids), figsize=(5.2 * len(grids), 4.4), squeeze=False)
    for axis, (column, grid) in zip(axes[0], grids.items()):
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
            label = "final IPR  (1/D extended ... 1 one site)"
            title = "final IPR of the ODE"
            ticks = None
        canvas.colorbar(mesh, ax=axis, label=label, ticks=ticks, format="%.2g")
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
