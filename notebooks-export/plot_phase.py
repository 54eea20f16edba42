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
# Usage: `.venv/bin/python notebooks-export/plot_phase.py DIR`

# %%
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
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


def edges(values):
    """Cell edges for pcolormesh: midpoints, extended by half a step at both ends."""
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    middle = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - middle[0]], middle, [2 * values[-1] - middle[-1]]])


# %%
def plot(directory):
    xname, yname, xs, ys, grids = load(directory)
    figure, axes = plt.subplots(1, len(grids), figsize=(5.2 * len(grids), 4.2), squeeze=False)
    for axis, (column, grid) in zip(axes[0], grids.items()):
        if column == "growth_rate":
            finite = grid[np.isfinite(grid)]
            bound = max(abs(finite.min()), abs(finite.max()), 1e-12)
            mesh = axis.pcolormesh(edges(xs), edges(ys), grid, cmap="RdBu_r",
                                   norm=TwoSlopeNorm(vcenter=0, vmin=-bound, vmax=bound))
            if len(xs) > 1 and len(ys) > 1 and finite.min() < 0 < finite.max():
                axis.contour(xs, ys, grid, levels=[0], colors="black", linewidths=1.2)
            label = "growth rate of the leading mode"
        else:
            mesh = axis.pcolormesh(edges(xs), edges(ys), grid, cmap="viridis")
            label = "final IPR  (1/D extended ... 1 one site)"
        figure.colorbar(mesh, ax=axis, label=label)
        axis.set_xlabel(xname)
        axis.set_ylabel(yname)
        axis.set_title(column)
    figure.tight_layout()
    figure.savefig(f"{directory}/phase.png", dpi=130)


# %%
if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: plot_phase.py DIR  (DIR/phase.csv from `convemerge phase`)")
    plot(sys.argv[1])
