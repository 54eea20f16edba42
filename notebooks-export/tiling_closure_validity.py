"""The closure-validity diagnostic of study_tiling.py (--closure-validity K,L): along the montecarlo ODE's trajectory,
each closure's right-hand side against a Monte Carlo reference of many more inputs, per state and per unit (by IPR and
by the excess kurtosis of its preactivation), and the separation of the closures' trajectories from the montecarlo one."""
import hashlib
import json
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


def ipr_rates(weights, velocity):
    """d IPR_k / dt = grad IPR_k . dw_k/dt per unit, IPR_k = sum_i w_ki^4 / S_k^2, S_k = |w_k|^2
    (derivations/observables.md eq. (1)): grad = 4 w^3 / S^2 - 4 w sum_i w_i^4 / S^3."""
    squares = np.sum(weights ** 2, axis=1, keepdims=True)
    fourth = np.sum(weights ** 4, axis=1, keepdims=True)
    gradient = 4 * weights ** 3 / squares ** 2 - 4 * weights * fourth / squares ** 3
    return np.sum(gradient * velocity, axis=1)


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


def probe_state(binary, s, state, model_flags, closure_flags, cache=False):
    """Every closure's velocity at one state against the reference: the state's row and its units' rows (kept in
    validity-cache/ of the run directory, keyed by the state and the flags, when cache is set: --reuse-runs)."""
    v = s["validity"]
    reference = ["--closure", "montecarlo", "--mc-samples", str(v["reference_samples"]), "--mc-precision", "float"]
    flags = json.dumps([reference, model_flags(STEP, 2)] + [closure_flags(c) for c in ["montecarlo", "cumulant", "gaussian"]])
    key = hashlib.sha1(np.ascontiguousarray(state).tobytes() + flags.encode()).hexdigest()
    cached = os.path.join(binary.work, "validity-cache", key + ".json")
    if cache and os.path.exists(cached):
        with open(cached) as stream:
            return tuple(json.load(stream))
    row, units = measure_state(binary, s, state, model_flags, closure_flags, reference)
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    with open(cached, "w") as stream:
        json.dump([row, units], stream)
    return row, units


def measure_state(binary, s, state, model_flags, closure_flags, reference):
    """probe_state's measurement: the probes, the class drifts, the errors, the IPR rates and the kurtosis."""
    np.save(os.path.join(binary.work, "validity-state.npy"), state)

    def probe(closure_args, p1=None):
        return probe_velocity(binary, model_flags, "validity-state.npy", closure_args, p1)
    truth = probe(reference + ["--mc-seed", "11"])
    # v(p1) = g0 + p1 (g1 - g0) (derivations/committee-closures.md §1): a second p1 separates the class drifts, whose
    # size sum_c p_c |g_c| is closure-error's scale (it does not vanish at a fixed point, unlike |dW/dt|).
    slope = 4 * (truth - probe(reference + ["--mc-seed", "11"], p1=0.25))
    drifts = (truth - 0.5 * slope, truth + 0.5 * slope)
    unit_scale = sum(0.5 * np.linalg.norm(g, axis=1) for g in drifts)
    total_scale = sum(0.5 * np.linalg.norm(g) for g in drifts)
    # the reference's own noise is sqrt(1/2) of the distance between two of its samples
    candidates = {"reference, sample 2": (probe(reference + ["--mc-seed", "12"]), np.sqrt(0.5))}
    candidates.update({closure: (probe(closure_flags(closure)), 1.0) for closure in ["montecarlo", "cumulant", "gaussian"]})
    iprs, kurtosis = unit_ipr(state), excess_kurtosis(binary, s, state)
    rates = {"reference": ipr_rates(state, truth)}
    rates.update({name: ipr_rates(state, u) for name, (u, _) in candidates.items()})
    row = {"mean_ipr": float(iprs.mean()), "max_ipr": float(iprs.max()),
           "mean_ipr_rate": {name: float(np.mean(rate)) for name, rate in rates.items()},
           "velocity_over_scale": float(np.linalg.norm(truth) / total_scale),
           "error": {name: float(f * np.linalg.norm(u - truth) / total_scale) for name, (u, f) in candidates.items()},
           "error_over_velocity": {name: float(f * np.linalg.norm(u - truth) / np.linalg.norm(truth))
                                   for name, (u, f) in candidates.items()}}
    units = [{"unit": k, "ipr": float(iprs[k]), "excess_kurtosis": kurtosis[:, k].tolist(),
              "ipr_rate": {name: float(rate[k]) for name, rate in rates.items()},
              "error": {name: float(f * np.linalg.norm(u[k] - truth[k]) / unit_scale[k]) for name, (u, f) in candidates.items()}}
             for k in range(len(state))]
    return row, units


def distances(trajectories, base):
    """|W - W_base| / |W_base| at each save, for every other trajectory (same w0, so the same unit labels)."""
    saves = len(trajectories[base])
    scale = np.linalg.norm(trajectories[base].reshape(saves, -1), axis=1)
    return {name: (np.linalg.norm((w - trajectories[base]).reshape(saves, -1), axis=1) / scale).tolist()
            for name, w in trajectories.items() if name != base}


def closure_validity(binary, s, train, model_flags, closure_flags, cache=False):
    """train(source, mc_seed, w0_seed) -> run directory of the validity configuration; model_flags(t_max, saves) its flags;
    closure_flags(closure) the study's closure flags. Returns the JSON-ready measurements."""
    v = s["validity"]
    trajectories = {}
    for name, source, mc_seed in [("montecarlo", "montecarlo", 1), ("montecarlo, sample 2", "montecarlo", 2),
                                  ("cumulant", "cumulant", 1), ("gaussian", "gaussian", 1), ("SGD", "simulate", 1)]:
        out = train(source, mc_seed, v["w0_seed"])
        weights = np.load(os.path.join(binary.work, out, "weights.npy"))
        if source == "simulate":
            trajectories["SGD replica 1"], weights = weights[1], weights[0]
        trajectories[name] = weights
        times = np.load(os.path.join(binary.work, out, "times.npy"))
    mc, sgd = trajectories["montecarlo"], trajectories["SGD"]
    separation = {"t": times.tolist(), "mean_ipr": {}, "max_ipr": {},
                  "from_montecarlo": distances({n: w for n, w in trajectories.items() if n != "SGD replica 1"}, "montecarlo"),
                  "from_sgd": distances(trajectories, "SGD"), "separated_at": {}}
    for name, w in trajectories.items():
        separation["mean_ipr"][name] = unit_ipr(w).mean(axis=1).tolist()
        separation["max_ipr"][name] = unit_ipr(w).max(axis=1).tolist()
    for base in ["from_montecarlo", "from_sgd"]:
        for name, distance in separation[base].items():
            beyond = np.nonzero(np.array(distance) > SEPARATED)[0]
            separation["separated_at"][f"{name} {base.replace('_', ' ')}"] = int(beyond[0]) if len(beyond) else None
    rows, units_rows = [], []
    mc_indices = np.unique(np.round(np.linspace(0, len(times) - 1, v["states"])).astype(int))
    sgd_indices = mc_indices[mc_indices >= len(times) // 2]
    probes = [("montecarlo", mc, mc_indices), ("SGD replica 0", sgd, sgd_indices)]
    # the final SGD states of the other w0 seeds: is what the closure does to localised units the same everywhere?
    probes += [(f"SGD replica 0, w0 seed {seed}", np.load(os.path.join(binary.work, train("simulate", 1, seed), "weights.npy"))[0],
                [len(times) - 1]) for seed in s["w0_seeds"] if seed != v["w0_seed"]]
    for trajectory, weights, indices in probes:
        for index in indices:
            print(f"study-tiling: closure validity at the {trajectory} state of t = {times[index]:.4g}", file=sys.stderr)
            row, units = probe_state(binary, s, weights[index], model_flags, closure_flags, cache)
            rows.append({"trajectory": trajectory, "t": float(times[index]), **row})
            units_rows += [{"trajectory": trajectory, "t": float(times[index]), **u} for u in units]
    return {"K": v["K"], "L": v["L"], "w0_seed": v["w0_seed"], "reference_samples": v["reference_samples"],
            "separation": separation, "states": rows, "units": units_rows}


def validity_figure(validity, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    separation = validity["separation"]
    t = np.array(separation["t"])
    for ax, base, label in [(axes[0], "from_sgd", "SGD replica 0"), (axes[1], "from_montecarlo", "montecarlo")]:
        for name, distance in separation[base].items():
            ax.semilogx(t[1:], distance[1:], label=name)
        ax.axhline(SEPARATED, color="0.5", lw=0.5, ls=":")
        ax.set_xlabel("t")
        ax.set_ylabel(f"|W - W| / |W| from {label} (same w0)")
        ax.legend(fontsize=7)
    twin = axes[0].twinx()
    for name, style in [("SGD", "k--"), ("montecarlo", "C0--"), ("cumulant", "C2--")]:
        twin.semilogx(t[1:], separation["mean_ipr"][name][1:], style, lw=0.8)
    twin.set_ylabel("mean unit IPR (dashed: SGD black, montecarlo, cumulant)")
    for trajectory, marker in [("montecarlo", "o-"), ("SGD replica 0", "s:")]:
        states = [r for r in validity["states"] if r["trajectory"] == trajectory]
        for name in ["gaussian", "cumulant", "montecarlo", "reference, sample 2"]:
            axes[2].plot([r["mean_ipr"] for r in states], [r["error"][name] for r in states], marker,
                         label=f"{'reference noise' if name == 'reference, sample 2' else name} ({trajectory} states)")
    axes[2].set_xlabel("mean unit IPR of the state")
    axes[2].set_ylabel("|v - v_ref| / sum_c p_c |g_c|")
    axes[2].legend(fontsize=6)
    units = validity["units"]
    for name, marker in [("reference", "k+"), ("cumulant", "C1o"), ("gaussian", "C0x")]:
        axes[3].plot([u["ipr"] for u in units], [u["ipr_rate"][name] for u in units], marker, ms=4, ls="none", label=name)
    axes[3].axhline(0, color="0.5", lw=0.5)
    axes[3].set_xscale("log")
    axes[3].set_xlabel("unit IPR (probed states)")
    axes[3].set_ylabel("d IPR_k / dt under each right-hand side")
    axes[3].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def beyond(error, noise):
    """An error with the reference's own noise removed in quadrature (as closure-error's excess_error)."""
    return float(np.sqrt(max(error ** 2 - noise ** 2, 0.0)))


def validity_section(validity, s, figure_path):
    separation = validity["separation"]
    t = separation["t"]
    mc = f"montecarlo (M = {s['mc_samples']})"
    lines = ["", f"## Why the cumulant closure misses the tiling at K = {validity['K']}, L = {validity['L']}", "",
             f"Same w0 (seed {validity['w0_seed']}) for every trajectory, so units keep their labels. **Separation**: "
             f"the first save at which |W - W_base| / |W_base| exceeds {SEPARATED:g}, with the mean and largest unit IPR of the base "
             "there; 'montecarlo, sample 2' is the montecarlo ODE on an independent sample (mc-seed 2), 'SGD replica 1' a "
             "second SGD replica.", "",
             "| trajectory | base | separates at t | mean / largest unit IPR of the base there | distance at the end |",
             "|---|---|---|---|---|"]
    for base, label in [("from_sgd", "SGD"), ("from_montecarlo", "montecarlo")]:
        for name, distance in separation[base].items():
            index = separation["separated_at"][f"{name} {base.replace('_', ' ')}"]
            base_name = "SGD" if base == "from_sgd" else "montecarlo"
            where = "-" if index is None else (f"{fmt(separation['mean_ipr'][base_name][index])} / "
                                               f"{fmt(separation['max_ipr'][base_name][index])}")
            lines.append(f"| {name} | {label} | {'never' if index is None else f'{t[index]:.4g}'} | {where} | {fmt(distance[-1])} |")
    lines += ["", "Mean unit IPR along the trajectories:", "",
              "| t | " + " | ".join(separation["mean_ipr"]) + " |", "|---|" + "---|" * len(separation["mean_ipr"])]
    for index in range(0, len(t), max(1, len(t) // 10)):
        lines.append(f"| {t[index]:.4g} | " + " | ".join(fmt(curve[index]) for curve in separation["mean_ipr"].values()) + " |")
    names = ["gaussian", "cumulant", "montecarlo", "reference, sample 2"]
    lines += ["", "**Right-hand sides.** At saved states of the montecarlo trajectory and of SGD replica 0, the velocity dW/dt of each "
              "closure, from one probe step of `solve --init` (dt = 1e-3), against a Monte Carlo reference of "
              f"{validity['reference_samples']} inputs per class (float storage). Error: the norm of v - v_ref over closure-error's "
              "scale sum_c p_c |g_c| (the class drifts, from a second probe at p1 = 0.25), and over the velocity's norm. "
              "'reference noise' is |v_ref1 - v_ref2| / sqrt 2 for two independent reference samples: errors of that size are "
              f"not resolved (each error includes it in quadrature). '{mc}' is the montecarlo ODE's own sample (mc-seed 1).", "",
              f"![closure validity]({figure_path})", "",
              "Beyond noise: sqrt(error^2 - noise^2). d IPR / dt: the mean over units of grad IPR_k . v_k under each right-hand "
              "side: does the closure drive localisation at the reference's rate?", "",
              f"| state of | t | mean unit IPR | largest unit IPR | velocity / scale | gaussian | cumulant | {mc} | reference noise "
              "| gaussian beyond noise | cumulant beyond noise | cumulant beyond noise / velocity "
              "| d IPR / dt reference | cumulant | gaussian | reference, sample 2 |", "|---" * 16 + "|"]
    for r in validity["states"]:
        noise = r["error"]["reference, sample 2"]
        lines.append("| " + " | ".join([r["trajectory"], f"{r['t']:.4g}", fmt(r["mean_ipr"]), fmt(r["max_ipr"]),
                                        fmt(r["velocity_over_scale"])] + [fmt(r["error"][n]) for n in names]
                                       + [fmt(beyond(r["error"][n], noise)) for n in ["gaussian", "cumulant"]]
                                       + [fmt(beyond(r["error"]["cumulant"], noise) / r["velocity_over_scale"])]
                                       + [fmt(r["mean_ipr_rate"][n]) for n in ["reference", "cumulant", "gaussian", "reference, sample 2"]])
                     + " |")
    random_ipr = 3 / (validity["L"] + 2)
    edges = [0, 1.5, 2, 4, 8, np.inf]
    lines += ["", f"**Per unit, by IPR** (in units of a random vector's 3/(D+2) = {random_ipr:.3g}; localised above 2), all probed "
              "states: the unit's error over its class-drift scale, and the excess kurtosis kappa_kkkk / Q_kk^2 of its "
              "preactivation (the larger of the two classes' in absolute value), means over the units of the bin.", "",
              f"| IPR / random | units | excess kurtosis | gaussian | cumulant | {mc} | reference noise | cumulant better "
              "| gaussian beyond noise | cumulant beyond noise | d IPR_k / dt reference | cumulant | gaussian |", "|---" * 13 + "|"]
    for low, high in zip(edges[:-1], edges[1:]):
        chosen = [u for u in validity["units"] if low <= u["ipr"] / random_ipr < high]
        if not chosen:
            continue
        kurtosis = np.mean([max(map(abs, u["excess_kurtosis"])) for u in chosen])
        better = sum(u["error"]["cumulant"] < u["error"]["gaussian"] for u in chosen)
        squares = {n: np.mean([u["error"][n] ** 2 for u in chosen]) for n in names}
        lines.append(f"| {low:g}-{high:g} | {len(chosen)} | {kurtosis:.3g} | "
                     + " | ".join(fmt(np.mean([u["error"][n] for u in chosen])) for n in names) + f" | {better}/{len(chosen)} | "
                     + " | ".join(fmt(np.sqrt(max(squares[n] - squares["reference, sample 2"], 0))) for n in ["gaussian", "cumulant"])
                     + " | " + " | ".join(fmt(np.mean([u["ipr_rate"][n] for u in chosen])) for n in ["reference", "cumulant", "gaussian"])
                     + " |")
    return lines


def montecarlo_sentence(s, mc_split, cumulant_split, ext):
    """Is the montecarlo ODE a converged reference? (split: (t, text) at which a trajectory leaves the montecarlo one)."""
    if mc_split[0] == float("inf"):
        text = (f"- On an independent sample the montecarlo ODE (M = {s['mc_samples']}) stays within {SEPARATED:g} of its own "
                f"trajectory; the cumulant ODE leaves it {cumulant_split[1]}.")
    else:
        converged = mc_split[0] > cumulant_split[0]
        text = (f"- The montecarlo ODE (M = {s['mc_samples']}) is {'' if converged else 'not '}a converged reference for the "
                f"cumulant one: on an independent sample it leaves its own trajectory {mc_split[1]}, "
                f"{'after' if converged else 'before' if mc_split[0] < cumulant_split[0] else 'as'} the cumulant ODE leaves it "
                f"({cumulant_split[1]}).")
    if ext:
        text += (f" At extended states (largest unit IPR < 2 x random) its right-hand side errs by {fmt(ext['montecarlo'])} of "
                 f"the class-drift scale, against {fmt(ext['cumulant'])} for the cumulant closure and {fmt(ext['gaussian'])} "
                 f"for the gaussian one (reference noise {fmt(ext['reference, sample 2'])}).")
    return text


def rate_sentence(r):
    """Errors and localisation rates at the most localised probed state."""
    noise, rate = r["error"]["reference, sample 2"], r["mean_ipr_rate"]
    return (f"- At the most localised probed state ({r['trajectory']}, t = {r['t']:.4g}, mean unit IPR {fmt(r['mean_ipr'])}, "
            f"velocity {fmt(r['velocity_over_scale'])} of the class-drift scale), the errors beyond noise are "
            f"{fmt(beyond(r['error']['cumulant'], noise))} (cumulant) and {fmt(beyond(r['error']['gaussian'], noise))} (gaussian) "
            f"of the scale, {fmt(beyond(r['error']['cumulant'], noise) / r['velocity_over_scale'])} and "
            f"{fmt(beyond(r['error']['gaussian'], noise) / r['velocity_over_scale'])} of the velocity; d(mean IPR)/dt is "
            f"{fmt(rate['reference'])} (reference; {fmt(rate['reference, sample 2'])} on its second sample), "
            f"{fmt(rate['cumulant'])} (cumulant), {fmt(rate['gaussian'])} (gaussian), {fmt(rate['montecarlo'])} "
            "(montecarlo's sample).")


def growth_sentence(s, wide, localised, unit_mean):
    """How the per-unit errors change from extended (IPR < 1.5 x random) to localised (> 4 x random) units."""
    if not wide or not localised:
        return "- The probed units do not span extended (IPR < 1.5 x random) to localised (> 4 x random): no growth measured."
    grows = float(unit_mean(localised, "cumulant")) > float(unit_mean(wide, "cumulant"))
    return (f"- Per unit, the cumulant closure's error {'grows' if grows else 'does not grow'} with localisation: "
            f"{unit_mean(wide, 'cumulant')} for units with IPR < 1.5 x random ({len(wide)} unit states), "
            f"{unit_mean(localised, 'cumulant')} above 4 x random ({len(localised)}); gaussian {unit_mean(wide, 'gaussian')}, "
            f"{unit_mean(localised, 'gaussian')}; montecarlo (M = {s['mc_samples']}) {unit_mean(wide, 'montecarlo')}, "
            f"{unit_mean(localised, 'montecarlo')}; reference noise {unit_mean(wide, 'reference, sample 2')}, "
            f"{unit_mean(localised, 'reference, sample 2')}. Their own d IPR_k / dt above 4 x random: "
            + ", ".join(f"{name} {fmt(float(np.mean([u['ipr_rate'][name] for u in localised])))}"
                        for name in ["reference", "reference, sample 2", "cumulant", "gaussian", "montecarlo"]) + ".")


def seeds_sentence(finals):
    """The localisation rates at SGD's final states of every w0 seed."""
    if len(finals) < 2:
        return "- (one w0 seed: the final SGD states of other seeds not probed)"
    rates = [(r["mean_ipr_rate"]["reference"], r["mean_ipr_rate"]["cumulant"], r["mean_ipr_rate"]["gaussian"]) for r in finals]
    return (f"- At SGD's final states of the {len(finals)} w0 seeds (mean unit IPR "
            + ", ".join(fmt(r["mean_ipr"]) for r in finals) + "), d(mean IPR)/dt reference / cumulant / gaussian: "
            + "; ".join(f"{fmt(a)} / {fmt(b)} / {fmt(c)}" for a, b, c in rates)
            + f". The cumulant closure's rate is below half the reference's in {sum(b < 0.5 * a for a, b, _ in rates)} of "
            f"{len(rates)} and of the wrong sign in {sum(b < 0 < a for a, b, _ in rates)}.")


def why_sentence(r):
    """The mechanism read off the localisation rates at the most localised probed state."""
    rate = r["mean_ipr_rate"]
    reference, cumulant = rate["reference"], rate["cumulant"]
    if reference <= 0 or abs(reference - rate["reference, sample 2"]) > 0.5 * reference:
        return "- The reference's localisation rate is not resolved at the most localised state: no mechanism read off."
    if cumulant < 0:
        verdict = (f"reverses it ({fmt(cumulant)} against {fmt(reference)}): under the closure the localised units spread "
                   "out again, so the cumulant ODE cannot reach SGD's localised units")
    elif cumulant < 0.75 * reference:
        verdict = f"recovers only {fmt(cumulant / reference)} of it: the cumulant ODE localises too slowly"
    else:
        verdict = f"recovers it ({fmt(cumulant / reference)}): the miss lies elsewhere"
    opposes = ", and it opposes localisation" if cumulant < 0.75 * reference else ""
    return (f"- Why: the cumulant closure's error is small against the class drifts but not against the slow velocity of the "
            f"plateau{opposes}. At the most localised state the population drives the mean unit IPR up; the first-order "
            f"closure {verdict}.")


def validity_conclusion(validity, records, s):
    """The section's conclusion, every number read from the measurements above."""
    units, length, separation = validity["K"], validity["L"], validity["separation"]
    t = separation["t"]
    here = [r for r in records if (r["K"], r["L"]) == (units, length) and not r.get("refused")]

    def tiled(source, lr):
        chosen = [r for r in here if r["source"] == source and r["lr"] == lr]
        return f"{sum(r['tiled'] for r in chosen)}/{len(chosen)}" if chosen else "-"

    def mean_of(source, lr, key):
        values = [r[key] for r in here if r["source"] == source and r["lr"] == lr and r.get(key) is not None]
        return float(np.mean(values)) if values else None

    def when(name):
        index = separation["separated_at"].get(name)
        return (float("inf"), "never") if index is None else (t[index], f"at t = {t[index]:.3g}")
    lrs = sorted({r["lr"] for r in here}, reverse=True)
    verdicts = "; ".join(f"lr {lr:g}: SGD {tiled('simulate', lr)}, montecarlo {tiled('montecarlo', lr)}, "
                         f"cumulant {tiled('cumulant', lr)}, gaussian {tiled('gaussian', lr)}" for lr in lrs)
    sgd_ipr = ", ".join(f"{fmt(mean_of('simulate', lr, 'mean_unit_ipr'))} at lr {lr:g}" for lr in lrs)
    ode_ipr = ", ".join(f"{source} {fmt(mean_of(source, s['lr'], 'mean_unit_ipr'))}" for source in ["montecarlo", "cumulant", "gaussian"])
    to_sgd = ", ".join(f"{source} {fmt(mean_of(source, s['lr'], 'distance_seed_mean'))}" for source in ["montecarlo", "cumulant", "gaussian"])
    random_ipr = 3 / (length + 2)
    extended = [r for r in validity["states"] if r["trajectory"] == "montecarlo" and r["max_ipr"] < 2 * random_ipr]
    ext = {n: float(np.mean([r["error"][n] for r in extended])) for n in ["cumulant", "gaussian", "montecarlo", "reference, sample 2"]} if extended else None
    localised = [u for u in validity["units"] if u["ipr"] > 4 * random_ipr]
    wide = [u for u in validity["units"] if u["ipr"] < 1.5 * random_ipr]

    def unit_mean(chosen, name):
        return fmt(float(np.mean([u["error"][name] for u in chosen])))
    mc_split, cumulant_split = when("montecarlo, sample 2 from montecarlo"), when("cumulant from montecarlo")
    sgd_index = separation["separated_at"].get("cumulant from sgd")
    cumulant_sgd, replicas = when("cumulant from sgd"), when("SGD replica 1 from sgd")
    final = {name: separation["from_sgd"][name][-1] for name in ["montecarlo", "cumulant", "gaussian", "SGD replica 1"]}
    lines = ["", "**Conclusion.**", "",
             f"- Tiling verdicts over the {len(s['w0_seeds'])} w0 seeds at K = {units}, L = {length} (tiled / seeds): {verdicts}. "
             f"Final mean unit IPR (mean over w0 seeds): SGD {sgd_ipr}; at lr {s['lr']:g} {ode_ipr}. Distance to SGD (seed mean): {to_sgd}.",
             f"- SGD is at its small-lr limit in what the verdict uses: the same lr t at a {s['lr'] / s['small_lr']:g}x smaller lr gives "
             "the same IPR and verdicts (first item)." if s.get("small_lr") else "- (no --small-lr: SGD's small-lr limit not checked)",
             montecarlo_sentence(s, mc_split, cumulant_split, ext),
             rate_sentence(max(validity["states"], key=lambda r: r["mean_ipr"])),
             why_sentence(max(validity["states"], key=lambda r: r["mean_ipr"])),
             seeds_sentence([r for r in validity["states"] if r["trajectory"].startswith("SGD") and r["t"] == t[-1]]),
             growth_sentence(s, wide, localised, unit_mean),
             f"- Against SGD replica 0 (same w0), the cumulant ODE separates (distance > {SEPARATED:g}) {cumulant_sgd[1]}"
             + (f", where SGD's mean unit IPR is {fmt(separation['mean_ipr']['SGD'][sgd_index])}" if sgd_index is not None else "")
             + f"; a second SGD replica separates from it {replicas[1]}. Final distances to SGD replica 0: "
             + ", ".join(f"{name} {fmt(value)}" for name, value in final.items()) + "."]
    return lines
