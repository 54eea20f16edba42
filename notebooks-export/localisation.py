# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Localised receptive fields from non-Gaussian inputs
#
# The headline of ConvEmerge, reproduced from its own outputs (Ingrosso & Goldt, PNAS 2022; SPEC §3-§5).
# A single relu neuron learns to tell apart two classes of translation-invariant inputs on a ring of
# D sites: NLGP(xi0, g) with target 0 and NLGP(xi1, g) with target 1. The non-Gaussian statistics of
# the inputs make its receptive field (RF) **localise**; a Gaussian closure, or Gaussian inputs with the
# same covariance, keep it **extended**.
#
# Every number printed below is read from the run directories and JSON that `convemerge` writes; the
# notebook only chooses the commands. It runs the CLI named by the environment variable `CONVEMERGE`
# (default `.build/release/convemerge`, relative to the repository) and writes to `runs/notebook/`;
# with `CONVEMERGE_REUSE=1` it reads the run directories already there instead of recomputing them.
# Regenerate the executed export with `make notebooks`.
#
# IPR(w) = sum w_i^4 / (sum w_i^2)^2: 1/D for an extended RF, 1 for an RF on one site (the paper's code
# calls the participation ratio 1/IPR "IPR"). Time t is counted in SGD steps / D.

# %%
import json
import os
import pathlib
import shutil
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np

# The repository root: nbconvert runs the notebook from notebooks-export/, a user perhaps from the root.
ROOT = pathlib.Path.cwd()
if not (ROOT / "Package.swift").exists():
    ROOT = ROOT.parent
BINARY = ROOT / os.environ.get("CONVEMERGE", ".build/release/convemerge")
REUSE = os.environ.get("CONVEMERGE_REUSE") == "1"
RUNS = pathlib.Path("runs/notebook")  # relative to ROOT, so that printed paths are short

sys.path.insert(0, str(ROOT / "notebooks-export"))
import plot_phase  # noqa: E402  (the heatmap script that `convemerge phase` calls)

plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3, "font.size": 10})


def convemerge(*arguments):
    """Runs the CLI from the repository root and returns its stdout.

    Progress on stderr holds wall times, so it stays out of the export unless the command fails."""
    done = subprocess.run([str(BINARY), *map(str, arguments)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"convemerge {' '.join(map(str, arguments))} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def run(name, command, *arguments, marker="manifest.json"):
    """A run directory RUNS/name written by `convemerge COMMAND ... --out`, reused with CONVEMERGE_REUSE=1."""
    directory = RUNS / name
    if not (REUSE and (ROOT / directory / marker).exists()):
        shutil.rmtree(ROOT / directory, ignore_errors=True)
        (ROOT / RUNS).mkdir(parents=True, exist_ok=True)
        convemerge(command, *arguments, "--out", directory, "--quiet")
    return ROOT / directory


def json_output(name, *arguments):
    """The --json answer of a command, kept as RUNS/name.json so that it can be reused too."""
    path = ROOT / RUNS / f"{name}.json"
    if not (REUSE and path.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(convemerge(*arguments, "--json"))
    return json.loads(path.read_text())


def observables(path, name="observables.csv"):
    return np.genfromtxt(path / name, delimiter=",", names=True)


def centred(w, centre):
    """w rolled so that its centre (circular mean of w^2, in sites, from observables.csv) sits mid-ring."""
    return np.roll(w, len(w) // 2 - int(round(centre)) % len(w))


def best_overlap(a, b):
    """|cosine| of a and b maximised over circular shifts of b: equal RFs up to translation and sign give 1."""
    return max(abs(np.dot(a, np.roll(b, s))) for s in range(len(b))) / (np.linalg.norm(a) * np.linalg.norm(b))


print(f"CLI: {BINARY.relative_to(ROOT) if BINARY.is_relative_to(ROOT) else BINARY}; runs in {RUNS}/"
      + ("  (reusing existing runs)" if REUSE else ""))

# %% [markdown]
# ## 1. The default problem under three closures and the Gaussian control
#
# The SPEC §3 setting on a ring of L = 40 sites (every other flag at its default: xi0 = 0.5, xi1 = 2,
# g = 3, relu, targets 0,1, learning rate 1, t = 150, initial w_i ~ N(0, 0.1^2), the same initial
# weights in every run). The reduced gradient flow dw/dt = lr sum_c p_c sqrt(D) E_c[x h_c(w.x/sqrt D)]
# is closed in three ways:
#
# * `gaussian`: Stein's lemma with the true covariance; blind to everything beyond second order;
# * `cumulant` (leading diagram of the fourth cumulant): first order in the non-Gaussianity;
# * `montecarlo`: a fixed sample of 20000 inputs per class, the reference.
#
# The **Gaussian control** replaces both classes by their Gaussian clones (same covariances) and is solved
# with the Monte Carlo closure too, so that it is a simulation of Gaussian data and not a copy of the
# `gaussian` closure (which is exact for it).

# %%
PROBLEM = ["--L", 40]
CLOSURES = {
    "gaussian closure": ("gaussian", ["--closure", "gaussian"]),
    "cumulant closure (leading)": ("cumulant", ["--closure", "cumulant", "--cumulant", "leading"]),
    "Monte Carlo closure": ("montecarlo", ["--closure", "montecarlo"]),
    "Gaussian control (clone inputs, Monte Carlo)": ("control", ["--gaussian", "--closure", "montecarlo"]),
}
runs = {label: run(name, "solve", *PROBLEM, *flags) for label, (name, flags) in CLOSURES.items()}

manifest = json.loads((runs["Monte Carlo closure"] / "manifest.json").read_text())
parameters = manifest["parameters"]
classes = parameters["task"]["classes"]
D = manifest["dimension"]
print(f"D = {D}, class 0: NLGP(xi = {classes[0]['kernel']['correlation_length']}, g = {classes[0]['gain']}), "
      f"class 1: NLGP(xi = {classes[1]['kernel']['correlation_length']}, g = {classes[1]['gain']}), "
      f"targets {parameters['task']['targets']}, {parameters['neuron']['activation']} neuron, "
      f"lr = {parameters['learning_rate']}, t_max = {parameters['integrator']['t_max']}")
print(f"\n{'run':46s} {'status':10s} {'final IPR':>9s} {'final PR = 1/IPR':>17s} {'width (sites)':>14s}")
for label, path in runs.items():
    final = observables(path)[-1]
    status = json.loads((path / "manifest.json").read_text())["status"]
    print(f"{label:46s} {status:10s} {final['ipr']:9.3f} {final['participation_ratio']:17.1f} {final['width']:14.1f}")
print(f"\n(1/D = {1 / D:.3f})")

# %% [markdown]
# The final receptive fields, each rolled so that its centre (the circular mean of w_i^2) is mid-ring.
# For an extended RF the centre means little: it just fixes the phase of the Fourier-like pattern.

# %%
figure, axes = plt.subplots(1, len(runs), figsize=(13, 3.4), sharey=True, layout="constrained")
for axis, (label, path) in zip(axes, runs.items()):
    w = np.load(path / "weights.npy")[-1]
    final = observables(path)[-1]
    axis.plot(np.arange(D), centred(w, final["center"]), "o-", ms=3, lw=1.2)
    axis.axhline(0, color="grey", lw=0.6)
    axis.set_title(f"{label}\nfinal IPR {final['ipr']:.3f}", fontsize=9)
    axis.set_xlabel("site i (centre moved to mid-ring)")
axes[0].set_ylabel("weight w_i at the final time")
figure.suptitle(f"Final receptive fields, ring of D = {D} sites, t = {parameters['integrator']['t_max']:g}")
plt.show()

# %% [markdown]
# The IPR along the way (log time axis, t = 0 left out). The Monte Carlo flow and the cumulant closure
# leave the extended plateau; the Gaussian closure and the Gaussian control stay near it.

# %%
figure, axis = plt.subplots(figsize=(7, 4))
for label, path in runs.items():
    table = observables(path)[1:]
    axis.plot(table["t"], table["ipr"], label=label, lw=1.8)
axis.axhline(1 / D, color="grey", ls=":", label="1/D (fully extended)")
axis.set_xscale("log")
axis.set_xlabel("t (SGD steps / D)")
axis.set_ylabel("IPR of w")
axis.set_title("Localisation in time")
axis.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 2. Online SGD against the Monte Carlo ODE
#
# `simulate` trains the same neuron by online SGD (batch 64, learning rate 1) from the same initial
# weights, in 8 replicas that differ only in their stream of inputs. The NLGP is symmetric under x -> -x,
# so the loss is symmetric under w -> -w, and it is translation invariant: a replica may localise at
# another site, or with the opposite sign, than the ODE. The overlay below undoes both (centre moved
# mid-ring, sign such that the peak is positive). `compare --json` measures the same thing at common
# times; its `shifted_cosine` maximises over circular shifts and over the sign.

# %%
SEEDS = 8
simulation = run("simulation", "simulate", *PROBLEM, "--batch", 64, "--seeds", SEEDS)
theory = runs["Monte Carlo closure"]
comparison = json.loads(convemerge("compare", "--theory", theory.relative_to(ROOT),
                                   "--sim", simulation.relative_to(ROOT), "--json"))

replicas = np.load(simulation / "weights.npy")[:, -1, :]
ode = np.load(theory / "weights.npy")[-1]
seed_tables = [observables(simulation, f"observables_seed{k}.csv") for k in range(SEEDS)]
at_final_time = comparison["curve"][-1]
print(f"compare at t = {at_final_time['t']:g}: seed-mean distance {comparison['distance']:.3f}, "
      f"seed-mean shifted cosine {comparison['shifted_cosine']:.3f} (the mean of differently placed RFs)")
print(f"{'replica':>7s} {'final IPR':>9s} {'compare: shifted cosine':>24s} {'this notebook: |cosine| over shifts and sign':>45s}")
for k in range(SEEDS):
    print(f"{k:7d} {seed_tables[k]['ipr'][-1]:9.3f} {at_final_time['seed_shifted_cosines'][k]:24.3f} "
          f"{best_overlap(ode, replicas[k]):45.3f}")
print(f"ODE final IPR {observables(theory)['ipr'][-1]:.3f}; "
      f"replicas' final IPR {np.mean([t['ipr'][-1] for t in seed_tables]):.3f} "
      f"+- {np.std([t['ipr'][-1] for t in seed_tables], ddof=1) / np.sqrt(SEEDS):.3f} (mean +- s.e.)")
if comparison["warnings"]:
    print("compare warnings:", comparison["warnings"])

# %%
figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
for k in range(SEEDS):
    w = centred(replicas[k], seed_tables[k]["center"][-1])
    w = w if w[D // 2] >= 0 else -w
    left.plot(np.arange(D), w, color="tab:orange", lw=0.9, alpha=0.7, label="SGD replicas" if k == 0 else None)
    right.plot(seed_tables[k]["t"][1:], seed_tables[k]["ipr"][1:], color="tab:orange", lw=0.9, alpha=0.7,
               label="SGD replicas" if k == 0 else None)
ode_table = observables(theory)
left.plot(np.arange(D), centred(ode, ode_table["center"][-1]), "k-", lw=2, label="Monte Carlo ODE")
right.plot(ode_table["t"][1:], ode_table["ipr"][1:], "k-", lw=2, label="Monte Carlo ODE")
left.set_xlabel("site i (centre moved to mid-ring, sign of the peak +)")
left.set_ylabel("weight w_i at the final time")
left.set_title("Final receptive fields, aligned")
right.axhline(1 / D, color="grey", ls=":", label="1/D")
right.set_xscale("log")
right.set_xlabel("t (SGD steps / D)")
right.set_ylabel("IPR of w")
right.set_title("IPR in time")
for axis in (left, right):
    axis.legend(fontsize=8)
plt.show()

# %% [markdown]
# Aligned, the replicas fall onto the ODE's receptive field: the mean-field theory predicts the shape of
# the learned RF, while its position and sign are chosen by the fluctuations (the replicas' mean weight
# vector, which `simulate` also writes, averages differently placed bumps and is not what to compare).

# %% [markdown]
# ## 3. The learned RF and the eigenvectors of the fourth-cumulant tensor
#
# `tensor` finds Z-eigenpairs T(w) = mu w, |w| = 1, of the fourth-cumulant tensor of class 1 (the NLGP
# with the longer correlation length, target 1) by shifted symmetric power iteration on the fast action
# T(w), merged up to translation and sign, and measures the overlap of each with the final RF of the
# Monte Carlo run (|cosine| maximised over translations).

# %%
tensor = json_output("tensor", "tensor", *PROBLEM,
                     "--xi", classes[1]["kernel"]["correlation_length"], "--gain", classes[1]["gain"],
                     "--cumulant", "leading", "--restarts", 16, "--compare-with", theory.relative_to(ROOT))
print(f"{'eigenpair':>9s} {'mu':>9s} {'residual':>9s} {'IPR':>6s} {'overlap with the MC RF':>23s} {'starts':>6s}")
for n, mu in enumerate(tensor["eigenvalue"]):
    print(f"{n:9d} {mu:9.3f} {tensor['residual'][n]:9.1e} {tensor['ipr'][n]:6.3f} {tensor['overlap'][n]:23.3f} "
          f"{tensor['hits'][n]:6d}")
print(f"IPR of the Monte Carlo RF {tensor['reference_ipr']:.3f}; of a Fourier mode {tensor['fourier_mode_ipr']:.4f}")
cumulant_rf = np.load(runs["cumulant closure (leading)"] / "weights.npy")[-1]
print(f"overlap of eigenvector 0 with the cumulant-closure RF: "
      f"{best_overlap(cumulant_rf, np.array(tensor['eigenvector'][0])):.3f}")

# %%
def unit_and_centred(w):
    """Unit norm, centre (circular mean of w^2) mid-ring, peak positive: comparable shapes."""
    centre = np.angle(np.sum(w**2 * np.exp(2j * np.pi * np.arange(len(w)) / len(w)))) * len(w) / (2 * np.pi)
    w = centred(w, centre % len(w)) / np.linalg.norm(w)
    return w if w[np.argmax(np.abs(w))] > 0 else -w


figure, axis = plt.subplots(figsize=(7, 4))
axis.plot(unit_and_centred(ode), "k-", lw=2, label="learned RF, Monte Carlo ODE")
axis.plot(unit_and_centred(cumulant_rf), "-", color="tab:green", lw=1.5, label="learned RF, cumulant closure")
for n, vector in enumerate(tensor["eigenvector"]):
    axis.plot(unit_and_centred(np.array(vector)), "--", lw=1.5,
              label=f"tensor eigenvector {n} (mu = {tensor['eigenvalue'][n]:.2f})")
axis.set_xlabel("site i (centre moved to mid-ring)")
axis.set_ylabel("w_i / |w|")
axis.set_title("Learned receptive fields and Z-eigenvectors of the fourth cumulant")
axis.legend(fontsize=8)
plt.show()

# %% [markdown]
# The cumulant closure, first order in the fourth cumulant, converges onto an eigenvector of that tensor;
# the Monte Carlo flow, which keeps every order, learns a sharper bump (compare the IPRs above).

# %% [markdown]
# ## 4. The localising instability of the extended state
#
# `instability` linearises the flow at the extended state (the Fourier mode k* that the Gaussian part of
# the dynamics selects, a cos/sin pair for k* > 0, the uniform RF for k* = 0): omega(k) = lr sum_c p_c E_G[h_c'] Chat_c(k) is the Gaussian growth rate of
# Fourier mode k, and the growth rate of the leading non-translation mode of the closure's Jacobian
# changes sign at the critical gain g_c. Three closures are scanned over the gain.

# %%
SCANS = {
    "cumulant (leading)": ["--closure", "cumulant", "--cumulant", "leading"],
    "cumulant (full)": ["--closure", "cumulant", "--cumulant", "full"],
    "conditional": ["--closure", "conditional"],
}
scans = {label: json_output(f"instability-{'-'.join(flags[1::2])}", "instability", *PROBLEM, *flags,
                            "--scan-gain", "0:3:13")
         for label, flags in SCANS.items()}
leading = scans["cumulant (leading)"]
print(f"extended state: k* = {leading['k_star']}, IPR {leading['extended_state']['ipr']:.4f}; "
      f"growth rate at g = {classes[1]['gain']:g}: {leading['growth_rate']:.4f}")
for label, scan in scans.items():
    g_c = "none in the scanned range" if scan["g_c"] is None else f"{scan['g_c']:.3f}"
    print(f"g_c ({label}): {g_c}")

# %%
figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
k = np.array(leading["k"])
left.plot(k, leading["omega_initial"], "o-", ms=3, label="at the random initial weights")
left.plot(k, leading["omega"], "s-", ms=3, label="at the extended state")
left.axhline(0, color="grey", lw=0.6)
left.set_xlabel("Fourier index k (wavevector 2 pi k / D)")
left.set_ylabel("omega(k) (per unit t)")
left.set_title(f"Gaussian dispersion, g = {classes[1]['gain']:g}")
left.legend(fontsize=8)
for (label, scan), colour in zip(scans.items(), ("tab:blue", "tab:orange", "tab:green")):
    critical = "" if scan["g_c"] is None else f", g_c = {scan['g_c']:.3f}"
    right.plot(scan["scan_gain"], scan["scan_growth_rate"], "o-", ms=3, color=colour, label=label + critical)
    if scan["g_c"] is not None:
        right.axvline(scan["g_c"], color=colour, ls=":", lw=1.2)
right.axhline(0, color="grey", lw=0.6)
right.set_xlabel("gain g of the nonlinearity")
right.set_ylabel("growth rate of the leading mode (per unit t)")
right.set_title("Stability of the extended state (dotted: g_c)")
right.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 5. A small phase diagram
#
# `phase` sweeps the gain and the correlation length xi1 of class 1 on a 10 x 10 grid at D = 40, under
# the cumulant closure (leading): per cell the final IPR of the ODE and the growth rate of the extended
# state. The heatmap is drawn by `notebooks-export/plot_phase.py`, the script that `phase` itself calls.

# %%
phase = run("phase", "phase", "--x", "gain=0:2:10", "--y", "xi1=1:4:10", *PROBLEM,
            "--closure", "cumulant", "--measure", "ipr,growth", marker="phase.csv")
table = np.genfromtxt(phase / "phase.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
print(f"{len(table)} cells, statuses: {', '.join(sorted(set(map(str, table['status']))))}; final IPR from {np.nanmin(table['final_ipr']):.3f} "
      f"to {np.nanmax(table['final_ipr']):.3f}; growth rate from {np.nanmin(table['growth_rate']):.4f} "
      f"to {np.nanmax(table['growth_rate']):.4f}")
plot_phase.figure(phase)
plt.show()
