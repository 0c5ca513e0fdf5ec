"""A study with a known answer: simulated predictions of two methods over seeds and test images.

To check an interval one needs studies whose true difference is known. :class:`StudyModel`
draws multi-label scores the way a study's runs produce them: a large pool of images stands for
the population (a test set is a sample of it); each method separates positives from negatives
by its own strength; every image-class pair has a difficulty shared by both methods and every
run (why paired comparisons on one test set are tight); each training run (seed) adds its own
noise per image-class pair and its own shift per class (why two seeds of one method differ).
The true difference is the expected mAP difference of a new pair of runs on the whole pool.

    model = StudyModel()
    truth = model.true_difference()                     # in mAP points
    study = model.study(seeds=3, images=500, rng=rng)   # [(scores_a, scores_b)] per seed, targets
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from scac.metrics.evaluation import Evaluator


def _map(logits: np.ndarray, targets: np.ndarray) -> float:
    return float(Evaluator(logits, targets, score_kind="logit").compute(only="mAP")["mAP"])


@dataclass(frozen=True)
class SimulatedStudy:
    """One simulated study: k seed-matched pairs of (N, C) scores on one test sample.

    Attributes:
        pairs: ``(scores_a, scores_b)`` per seed, logits.
        targets: (N, C) 0/1 labels.
    """

    pairs: list[tuple[np.ndarray, np.ndarray]]
    targets: np.ndarray


@dataclass(frozen=True)
class StudyModel:
    """How two methods' runs score a population of images (logits).

    Attributes:
        classes: labels per image.
        prevalence: share of positive image-class pairs.
        pool: images in the population.
        strength: how far each method (a, b) moves a positive's logit above a negative's.
        difficulty: std of the per image-class logit shared by both methods and every run.
        run_noise: std of each run's own per image-class noise.
        run_shift: std of each run's own per-class shift of its positives' logits.
        correlation: of the per-class shifts of a seed-matched pair (a shared seed).
        seed: seed of the population.
    """

    classes: int = 10
    prevalence: float = 0.15
    pool: int = 20_000
    strength: tuple[float, float] = (2.0, 1.9)
    difficulty: float = 1.0
    run_noise: float = 0.6
    run_shift: float = 0.1
    correlation: float = 0.3
    seed: int = 0
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def population(self) -> tuple[np.ndarray, np.ndarray]:
        """(targets, shared difficulty), each (pool, classes)."""
        rng = np.random.default_rng([self.seed, 0])
        targets = (rng.random((self.pool, self.classes)) < self.prevalence).astype(np.uint8)
        return targets, rng.normal(0, self.difficulty, (self.pool, self.classes))

    def _runs(self, images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A seed-matched pair of runs' logits on the pool's ``images``."""
        targets, shared = self.population
        y, u = targets[images].astype(float), shared[images]
        cov = self.run_shift**2 * np.array([[1, self.correlation], [self.correlation, 1]])
        shift = rng.multivariate_normal([0, 0], cov, self.classes).T  # (2, C)
        out = []
        for m in range(2):
            noise = rng.normal(0, self.run_noise, y.shape)
            out.append((self.strength[m] + shift[m]) * y + u + noise)
        return tuple(out)

    def true_difference(self, runs: int = 200) -> float:
        """mAP(a) - mAP(b) in points, expected over runs, on the whole population."""
        if runs not in self._cache:
            rng = np.random.default_rng([self.seed, 1])
            everything = np.arange(self.pool)
            targets = self.population[0]
            diffs = []
            for _ in range(runs):
                a, b = self._runs(everything, rng)
                diffs.append(_map(a, targets) - _map(b, targets))
            self._cache[runs] = 100 * float(np.mean(diffs))
        return self._cache[runs]

    def study(self, seeds: int, images: int, rng: np.random.Generator) -> SimulatedStudy:
        """A study: ``images`` test images drawn from the pool, ``seeds`` pairs of runs on them."""
        chosen = rng.choice(self.pool, size=images, replace=False)
        pairs = [self._runs(chosen, rng) for _ in range(seeds)]
        return SimulatedStudy(pairs, self.population[0][chosen])
