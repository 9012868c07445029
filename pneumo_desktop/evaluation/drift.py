"""Input drift in plain NumPy: a model's reference distributions and the population stability
index (PSI) of new studies against them.

A bundle's card carries a `reference` section made on its validation split: for the score (the
logit) and for the learned check's typicality, the quintiles of the pooled films and the share
of pneumonia and of normal films in each quintile bin. (Quintiles, not deciles: on the
shipped model a window of home films varied half as much, and shifted films stood out
twice as far above that noise.) A clinic's share of pneumonia is not the
training hospital's, and a score distribution moves with it; so the window of new studies is
compared with the mixture of the reference's pneumonia and normal films that fits it best (the
prevalence is fitted, 0 to 1 in steps of 0.01), and the PSI left over is what a change of
prevalence cannot explain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BINS = 5
#: what the drift figures are measured on: card key -> words
VARIABLES = {"score": "the model's score (logit)",
             "typicality": "the learned input check's typicality"}
STATISTIC = ("PSI (population stability index) over the reference's quintile bins, against the "
             "best-fitting mix of its pneumonia and normal films; the larger of score and "
             "typicality")


def _fractions(values: np.ndarray, edges: np.ndarray, pseudo: float = 0.5) -> np.ndarray:
    """Share of `values` in each bin (inner `edges`), a `pseudo` count added to every bin so
    that an empty bin has a finite logarithm."""
    counts = np.bincount(np.searchsorted(edges, values, side="right"),
                         minlength=len(edges) + 1).astype(np.float64)
    return (counts + pseudo) / (counts.sum() + pseudo * len(counts))


def reference_part(values: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Quantile edges of `values` (`bins` bins) and the share of pneumonia / normal films in
    each bin."""
    values = np.asarray(values, np.float64)
    labels = np.asarray(labels, bool)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return {"edges": [float(e) for e in edges],
            "quantiles": {f"{q:.2f}": float(np.quantile(values, q))
                          for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)},
            "pneumonia": [float(f) for f in _fractions(values[labels], edges)],
            "normal": [float(f) for f in _fractions(values[~labels], edges)]}


def reference_section(logits: np.ndarray, typicality: np.ndarray | None, labels: np.ndarray,
                      source: str) -> dict[str, Any]:
    """The card's `reference` section (see the module's docstring)."""
    labels = np.asarray(labels, bool)
    section: dict[str, Any] = {
        "source": source, "n": int(len(labels)), "n_pneumonia": int(labels.sum()),
        "n_normal": int((~labels).sum()), "bins": BINS,
        "score": {"variable": "logit", **reference_part(logits, labels)}}
    if typicality is not None and np.isfinite(typicality).all():
        section["typicality"] = {"variable": "distance / cut-off of the learned input check",
                                 **reference_part(typicality, labels)}
    return section


def recalibrated_reference(reference: dict[str, Any], a: float, b: float) -> dict[str, Any]:
    """The reference of a model whose logit became a * logit + b (a > 0, Platt folded into
    its last layer): the same films fall in the same bins, whose score edges move."""
    if "score" not in reference:
        return dict(reference)
    score = dict(reference["score"])
    score["edges"] = [a * e + b for e in score["edges"]]
    score["quantiles"] = {q: a * v + b for q, v in score.get("quantiles", {}).items()}
    return {**reference, "score": score,
            "source": f"{reference.get('source', '')}; scores recalibrated ({a:.4g} x logit "
                      f"+ {b:.4g})"}


def psi(observed: np.ndarray, expected: np.ndarray) -> float:
    """Population stability index: sum of (o - e) ln(o / e) over bins (shares, no zeros)."""
    observed, expected = np.asarray(observed, np.float64), np.asarray(expected, np.float64)
    return float(np.sum((observed - expected) * np.log(observed / expected)))


def mixture_psi(values: np.ndarray, part: dict[str, Any]) -> tuple[float, float]:
    """(PSI, prevalence) of `values` against the best-fitting mix of the reference part's
    pneumonia and normal bins."""
    edges = np.asarray(part["edges"], np.float64)
    observed = _fractions(np.asarray(values, np.float64), edges)
    pos, neg = np.asarray(part["pneumonia"]), np.asarray(part["normal"])
    grid = np.linspace(0.0, 1.0, 101)
    values_psi = [psi(observed, w * pos + (1 - w) * neg) for w in grid]
    best = int(np.argmin(values_psi))
    return values_psi[best], float(grid[best])


def drift_figures(reference: dict[str, Any], logits: np.ndarray,
                  typicality: np.ndarray | None) -> dict[str, dict[str, float]]:
    """{variable: {"psi", "prevalence", "observed", "expected"}} for the variables the
    reference and the window both have (typicality needs finite values for every study):
    `observed` the window's share per reference bin, `expected` the fitted mix's."""
    out = {}
    for name, values in (("score", logits), ("typicality", typicality)):
        if name not in reference or values is None or not len(values):
            continue
        values = np.asarray(values, np.float64)
        if not np.isfinite(values).all():
            continue
        part = reference[name]
        value, prevalence = mixture_psi(values, part)
        observed = _fractions(values, np.asarray(part["edges"], np.float64))
        expected = prevalence * np.asarray(part["pneumonia"]) \
            + (1 - prevalence) * np.asarray(part["normal"])
        out[name] = {"psi": value, "prevalence": prevalence,
                     "observed": [float(x) for x in observed],
                     "expected": [float(x) for x in expected]}
    return out
