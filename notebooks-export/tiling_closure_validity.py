"""The closure-validity diagnostic of study_tiling.py (--closure-validity K,L): along the montecarlo ODE's trajectory,
each closure's right-hand side against a Monte Carlo reference of many more inputs, per state and per unit (by IPR and
by the excess kurtosis of its preactivation), and the separation of the closures' trajectories from the montecarlo one."""
import os
import sys

import numpy as np

from study_common import fmt

STEP = 1e-3          # probe step of `solve --init`, in t: forward-difference error ~ STEP lr |dv/dw| ~ 1e-5 relative
SEPARATED = 0.25     # a trajectory has left the montecarlo one when |W - W_mc| / |W_mc| exceeds this


def probe_velocity(binary, model_flags, state, closure_args, p1=None):
    """dW/dt at a state (K x D), from one probe step of `solve --init` (the public path; closure-error has no K units).
    model_flags(t_max, saves): the study's flags of the validity run."""
    flags = model_flags(STEP, 2) + ["--linear-saves", "--init", state, "--out", "velocity-probe"]
    _, reason = binary.run(["solve"] + closure_args + flags + (["--p1", str(p1)] if p1 is not None else []))
    if reason is not None:
        raise RuntimeError(f"velocity probe: {reason}")
    w = np.load(os.path.join(binary.work, "velocity-probe", "weights.npy"))
    return (w[1] - w[0]) / STEP


def unit_ipr(weights):
    """derivations/observables.md eq. (1), per unit."""
    p = weights ** 2 / np.sum(weights ** 2, axis=-1, keepdims=True)
    return np.sum(p ** 2, axis=-1)


def excess_kurtosis(binary, s, weights):
    """Per unit and class, kappa_kkkk / Q_kk^2 of lambda_k = w_k.x / sqrt(D): the fourth cumulant the closure keeps to
    first order (derivations/committee-closures.md §5), from `sample` inputs (SE ~ sqrt(24 / n) ~ 0.03)."""
    v = s["validity"]
    out = []
    for xi in (s["xi0"], s["xi1"]):
        path = f"kurtosis-inputs-xi{xi:g}.npy"
        if not os.path.exists(os.path.join(binary.work, path)):
            _, reason = binary.run(["sample", "--L", str(v["L"]), "--xi", str(xi), "--gain", str(s["gain"]),
                                    "--n", str(v["kurtosis_samples"]), "--seed", "5", "--out", path])
            if reason is not None:
                raise RuntimeError(f"sample: {reason}")
        inputs = np.load(os.path.join(binary.work, path))
        lam = inputs @ weights.T / np.sqrt(weights.shape[1])
        out.append(np.mean(lam ** 4, axis=0) / np.mean(lam ** 2, axis=0) ** 2 - 3)
    return np.array(out)  # classes x K


def closure_validity(binary, s, train, model_flags, closure_flags):
    """train(source, mc_seed) -> run directory of the validity configuration; model_flags(t_max, saves) its flags;
    closure_flags(closure) the study's closure flags. Returns the JSON-ready measurements."""
    v = s["validity"]
    units, length, w0 = v["K"], v["L"], v["w0_seed"]
    trajectories = {}
    for name, source, mc_seed in [("montecarlo", "montecarlo", 1), ("montecarlo, sample 2", "montecarlo", 2),
                                  ("cumulant", "cumulant", 1), ("gaussian", "gaussian", 1)]:
        out = train(source, mc_seed)
        trajectories[name] = np.load(os.path.join(binary.work, out, "weights.npy"))
        times = np.load(os.path.join(binary.work, out, "times.npy"))
    mc = trajectories["montecarlo"]
    scale = np.linalg.norm(mc.reshape(len(times), -1), axis=1)
    separation = {"t": times.tolist(), "mean_ipr_montecarlo": unit_ipr(mc).mean(axis=1).tolist(),
                  "max_ipr_montecarlo": unit_ipr(mc).max(axis=1).tolist(), "distance": {}, "separated_at": {}}
    for name, w in trajectories.items():
        if name == "montecarlo":
            continue
        distance = np.linalg.norm((w - mc).reshape(len(times), -1), axis=1) / scale
        separation["distance"][name] = distance.tolist()
        beyond = np.nonzero(distance > SEPARATED)[0]
        separation["separated_at"][name] = int(beyond[0]) if len(beyond) else None
    reference = ["--closure", "montecarlo", "--mc-samples", str(v["reference_samples"]), "--mc-precision", "float"]
    rows, units_rows = [], []
    for index in np.unique(np.round(np.linspace(0, len(times) - 1, v["states"])).astype(int)):
        state = mc[index]
        np.save(os.path.join(binary.work, "validity-state.npy"), state)
        print(f"study-tiling: closure validity at t = {times[index]:.4g}", file=sys.stderr)
        truth = probe_velocity(binary, model_flags, "validity-state.npy", reference + ["--mc-seed", "11"])
        # v(p1) = g0 + p1 (g1 - g0) (committee-closures.md §1): a second p1 separates the class drifts, whose size
        # sum_c p_c |g_c| is the scale of closure-error (it does not vanish at a fixed point, unlike |dW/dt|).
        slope = 4 * (truth - probe_velocity(binary, model_flags, "validity-state.npy", reference + ["--mc-seed", "11"], p1=0.25))
        drifts = (truth - 0.5 * slope, truth + 0.5 * slope)
        unit_scale = sum(0.5 * np.linalg.norm(g, axis=1) for g in drifts)
        total_scale = sum(0.5 * np.linalg.norm(g) for g in drifts)
        candidates = {"reference, sample 2": probe_velocity(binary, model_flags, "validity-state.npy", reference + ["--mc-seed", "12"]),
                      "montecarlo": probe_velocity(binary, model_flags, "validity-state.npy", closure_flags("montecarlo")),
                      "cumulant": probe_velocity(binary, model_flags, "validity-state.npy", closure_flags("cumulant")),
                      "gaussian": probe_velocity(binary, model_flags, "validity-state.npy", closure_flags("gaussian"))}
        iprs, kurtosis = unit_ipr(state), excess_kurtosis(binary, s, state)
        row = {"t": float(times[index]), "mean_ipr": float(iprs.mean()), "max_ipr": float(iprs.max()),
               "velocity_over_scale": float(np.linalg.norm(truth) / total_scale), "error": {}, "error_over_velocity": {}}
        for name, velocity in candidates.items():
            # the reference's own noise is sqrt(1/2) of the distance between its two samples
            factor = np.sqrt(0.5) if name == "reference, sample 2" else 1.0
            row["error"][name] = float(factor * np.linalg.norm(velocity - truth) / total_scale)
            row["error_over_velocity"][name] = float(factor * np.linalg.norm(velocity - truth) / np.linalg.norm(truth))
        rows.append(row)
        for k in range(units):
            units_rows.append({"t": float(times[index]), "unit": k, "ipr": float(iprs[k]),
                               "excess_kurtosis": kurtosis[:, k].tolist(),
                               "error": {name: float((np.sqrt(0.5) if name == "reference, sample 2" else 1.0)
                                                     * np.linalg.norm(velocity[k] - truth[k]) / unit_scale[k])
                                         for name, velocity in candidates.items()}})
    return {"K": units, "L": length, "w0_seed": w0, "reference_samples": v["reference_samples"], "separation": separation,
            "states": rows, "units": units_rows}


def validity_figure(validity, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    separation = validity["separation"]
    t = np.array(separation["t"])
    for name, distance in separation["distance"].items():
        axes[0].semilogx(t[1:], distance[1:], label=name)
    axes[0].axhline(SEPARATED, color="0.5", lw=0.5, ls=":")
    axes[0].set_xlabel("t")
    axes[0].set_ylabel("|W - W_montecarlo| / |W_montecarlo|")
    twin = axes[0].twinx()
    twin.semilogx(t[1:], separation["max_ipr_montecarlo"][1:], "k--", lw=0.8)
    twin.set_ylabel("largest unit IPR, montecarlo (dashed)")
    axes[0].legend(fontsize=8)
    states = validity["states"]
    for name in ["gaussian", "cumulant", "montecarlo", "reference, sample 2"]:
        axes[1].semilogx([r["t"] for r in states][1:], [r["error"][name] for r in states][1:], "o-",
                         label="reference noise" if name == "reference, sample 2" else name)
    axes[1].set_xlabel("t (states of the montecarlo trajectory)")
    axes[1].set_ylabel("|v - v_ref| / sum_c p_c |g_c|")
    axes[1].legend(fontsize=8)
    units = validity["units"]
    for name, marker in [("gaussian", "x"), ("cumulant", "o"), ("montecarlo", ".")]:
        axes[2].scatter([u["ipr"] for u in units], [u["error"][name] for u in units], marker=marker, s=14, label=name)
    axes[2].set_xscale("log")
    axes[2].set_xlabel("unit IPR")
    axes[2].set_ylabel("per-unit error / unit's class-drift scale")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def validity_section(validity, s, figure_path):
    separation, states = validity["separation"], validity["states"]
    t = separation["t"]

    def separated(name):
        index = separation["separated_at"].get(name)
        return "never" if index is None else (f"t = {t[index]:.4g} (largest unit IPR of the montecarlo run "
                                               f"{separation['max_ipr_montecarlo'][index]:.3g}, mean {separation['mean_ipr_montecarlo'][index]:.3g})")
    lines = ["", f"## Why the cumulant closure misses the tiling at K = {validity['K']}, L = {validity['L']}", "",
             f"Along the montecarlo ODE's trajectory (w0 seed {validity['w0_seed']}), the velocity dW/dt of each closure at the "
             "saved state, from one probe step of `solve --init` (dt = 1e-3), against a Monte Carlo reference of "
             f"{validity['reference_samples']} inputs per class (float storage). Error: the norm of v - v_ref over the scale of closure-error, "
             "sum_c p_c |g_c| (the class drifts, from a second probe at p1 = 0.25), and over the velocity's norm. 'reference noise' is "
             "|v_ref1 - v_ref2| / sqrt 2 for two independent reference samples: errors of that size are not resolved. "
             f"'montecarlo' is the ODE's own sample of the study ({s['mc_samples']} per class, mc-seed 1).", "",
             f"![closure validity]({figure_path})", "",
             f"**Separation of the trajectories** (same w0; |W - W_mc| / |W_mc| > {SEPARATED:g}):", ""]
    lines += [f"- {name}: {separated(name)}; at t = {t[-1]:.4g}: {distance[-1]:.3g}" for name, distance in separation["distance"].items()]
    names = ["gaussian", "cumulant", "montecarlo", "reference, sample 2"]
    lines += ["", "**Right-hand side along the montecarlo trajectory:**", "",
              f"| t | mean unit IPR | largest unit IPR | velocity / scale | gaussian | cumulant | montecarlo (M = {s['mc_samples']}) | reference noise "
              "| gaussian / velocity | cumulant / velocity |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in states:
        lines.append("| " + " | ".join([f"{r['t']:.4g}", fmt(r["mean_ipr"]), fmt(r["max_ipr"]), fmt(r["velocity_over_scale"])]
                                       + [fmt(r["error"][n]) for n in names]
                                       + [fmt(r["error_over_velocity"][n]) for n in ["gaussian", "cumulant"]]) + " |")
    random_ipr = 3 / (validity["L"] + 2)
    edges = [0, 1.5, 2, 4, 8, np.inf]
    lines += ["", f"**Per unit, by IPR** (in units of a random vector's 3/(D+2) = {random_ipr:.3g}; localised above 2): the unit's "
              "error over its class-drift scale, and the excess kurtosis kappa_kkkk / Q_kk^2 of its preactivation "
              "(the larger of the two classes', in absolute value), mean over the units of the bin.", "",
              f"| IPR / random | units | excess kurtosis | gaussian | cumulant | montecarlo (M = {s['mc_samples']}) | reference noise | cumulant better |",
              "|---|---|---|---|---|---|---|---|"]
    for low, high in zip(edges[:-1], edges[1:]):
        chosen = [u for u in validity["units"] if low <= u["ipr"] / random_ipr < high]
        if not chosen:
            continue
        kurtosis = np.mean([max(map(abs, u["excess_kurtosis"])) for u in chosen])
        better = sum(u["error"]["cumulant"] < u["error"]["gaussian"] for u in chosen)
        lines.append(f"| {low:g}-{high:g} | {len(chosen)} | {kurtosis:.3g} | "
                     + " | ".join(fmt(np.mean([u["error"][n] for u in chosen])) for n in names) + f" | {better}/{len(chosen)} |")
    return lines
