"""Seeded splits of a training set: a held-out part, or the folds of K-fold cross-validation."""

from __future__ import annotations

import numpy as np

from bertjax.errors import ConfigError


def holdout_indices(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): a seeded random `fraction` of `count` examples held out, both sorted."""
    if not 0 < fraction < 1:
        raise ConfigError(f"task.eval_fraction must be in (0, 1), got {fraction}")
    held_out = max(1, round(count * fraction))
    if held_out >= count:
        raise ConfigError(f"{count} examples are too few to hold out {fraction:.0%} for evaluation")
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def fold_indices(count: int, fold: int, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, evaluation rows) of fold `fold` of `folds`: every example is evaluated in exactly one fold."""
    if not 2 <= folds <= count:
        raise ConfigError(f"cross-validation needs between 2 and {count} folds, got {folds}")
    parts = np.array_split(np.random.default_rng(seed).permutation(count), folds)
    evaluation = np.sort(parts[fold])
    return np.sort(np.concatenate([part for index, part in enumerate(parts) if index != fold])), evaluation


def evaluation_rows(count: int, evaluation_given: bool, eval_fraction: float, seed: int,
                    fold: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """How a family splits its `count` training units (examples, sentences, contexts) for one run.

    fold (k, K): the k-th of K folds over all of them (cross-validation ignores a given evaluation set); else None
    when evaluation data is given (it is used as it is); else a seeded held-out `eval_fraction`.
    """
    if fold is not None:
        return fold_indices(count, *fold, seed=seed)
    if evaluation_given:
        return None
    return holdout_indices(count, eval_fraction, seed)
