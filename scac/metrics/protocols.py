"""Metric protocols: named bundles of every convention that changes a reported number.

Numbers in this field are comparable only when computed the same way, and the codebases people
compare against disagree on the AP formula, tie handling, the decision threshold and its
comparison, the CF1 convention, top-3 with or without the threshold, ignored entries and
classes without positives. A :class:`Protocol` fixes all of them; the presets mirror the
codebases named in their ``source`` (``docs/metrics.md`` has the table and what was read).
"""

from __future__ import annotations

from dataclasses import dataclass

from scac.metrics.choices import COMPARISONS, FORMULAS, TIES, check_choice
from scac.registry import Registry

NO_POSITIVE = ("exclude", "zero", "raise")
SPACES = ("probability", "logit")
CF1 = ("harmonic", "mean_f1")
IGNORED = ("excluded", "negative")


@dataclass(frozen=True)
class Protocol:
    """Every choice behind a metric set.

    Attributes:
        name: preset name.
        ap_formula: ``noninterp``, ``voc2010`` (envelope, all points), ``voc2007``
            (11-point, the devkit's MATLAB thresholds) or ``voc2007_py`` (11-point, the
            Python ports' ``np.arange`` thresholds).
        ap_ties: ``group`` (each distinct score one curve point, scikit-learn) or ``order``
            (each image its own point, ties broken by image order).
        no_positive: a class without counted positives is left out of mAP with a warning
            naming it (``exclude``), counts as AP 0 (``zero``), or raises (``raise``).
        threshold: decision threshold for CP, CR, CF1, OP, OR, OF1, in ``threshold_space``.
        threshold_space: ``probability`` or ``logit`` (the threshold is converted when the
            scores are on the other scale: logit 0 is probability 0.5).
        comparison: positive when ``score > threshold`` or ``score >= threshold``.
        cf1: the convention reported as ``CF1``: ``harmonic`` mean of CP and CR, or
            ``mean_f1``, the mean of the per-class F1 (both are always in the set).
        zero_division: value of a 0/0 precision or recall, 0 or 1.
        top_k: classes predicted per image for the ``*_top3``-style metrics (all of them when
            there are fewer classes).
        top_k_threshold: whether a top-k class must also pass the threshold.
        ignored_in_threshold: ignored entries (mask False) are ``excluded`` from the threshold
            and top-k counts, or count as ``negative`` there (ML-GCN); AP always excludes them.
        source: the codebase file mirrored, and what it does not define.
    """

    name: str
    ap_formula: str = "noninterp"
    ap_ties: str = "group"
    no_positive: str = "exclude"
    threshold: float = 0.5
    threshold_space: str = "probability"
    comparison: str = ">"
    cf1: str = "harmonic"
    zero_division: float = 0.0
    top_k: int = 3
    top_k_threshold: bool = True
    ignored_in_threshold: str = "excluded"
    source: str = ""

    def __post_init__(self) -> None:
        check_choice("ap_formula", self.ap_formula, FORMULAS)
        check_choice("ap_ties", self.ap_ties, TIES)
        check_choice("no_positive", self.no_positive, NO_POSITIVE)
        check_choice("threshold_space", self.threshold_space, SPACES)
        check_choice("comparison", self.comparison, COMPARISONS)
        check_choice("cf1", self.cf1, CF1)
        check_choice("ignored_in_threshold", self.ignored_in_threshold, IGNORED)
        if self.zero_division not in (0.0, 1.0):
            raise ValueError(f"zero_division must be 0 or 1; got {self.zero_division!r}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1; got {self.top_k}")
        if self.threshold_space == "probability" and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"a probability threshold must be in [0, 1]; got {self.threshold}")

    def metric_names(self) -> list[str]:
        """Keys of this protocol's metric set, in display order."""
        thr = ["CP", "CR", "CF1", "CF1_harmonic", "CF1_mean_f1", "OP", "OR", "OF1"]
        return ["mAP", *thr, *(f"{m}_top{self.top_k}" for m in thr)]


PROTOCOLS: Registry[Protocol] = Registry("metric protocol")

for _p in (
    Protocol(
        "default",
        source="scac-bench: AP as scikit-learn (ties grouped, exact), CF1 as ML-GCN, "
        "probability > 0.5, top-3 with the threshold, classes without positives excluded",
    ),
    Protocol(
        "mlgcn",
        ap_ties="order",
        no_positive="raise",
        threshold=0.0,
        threshold_space="logit",
        comparison=">=",
        ignored_in_threshold="negative",
        source="megvii-research/ML-GCN util.py (AveragePrecisionMeter: average_precision, "
        "overall, overall_topk, evaluation)",
    ),
    Protocol(
        "asl",
        ap_ties="order",
        no_positive="zero",
        cf1="mean_f1",
        source="Alibaba-MIIL/ASL src/helper_functions/helper_functions.py (average_precision, "
        "mAP); the code computes mAP only: threshold and top-3 choices are not from it",
    ),
    Protocol(
        "srn",
        ap_formula="voc2010",
        ap_ties="order",
        no_positive="raise",
        cf1="mean_f1",
        zero_division=1.0,
        source="zhufengx/SRN_multilabel evaluate.m, tools/AP_VOC.m, "
        "tools/precision_recall_f1.m; top-3 is not in the code",
    ),
    Protocol(
        "query2label",
        ap_formula="voc2010",
        ap_ties="order",
        no_positive="raise",
        source="SlongLiu/query2labels main_mlc.py + lib/utils/metric.py (voc_ap, voc_mAP; "
        "read in the copy at Alibaba-MIIL/ASL lib/utils/metric.py); mAP only in the code",
    ),
    Protocol(
        "mmpretrain",
        ap_ties="order",
        no_positive="zero",
        comparison=">=",
        cf1="mean_f1",
        top_k_threshold=False,
        source="open-mmlab/mmpretrain mmpretrain/evaluation/metrics/multi_label.py "
        "(_average_precision, MultiLabelMetric) + single_label.py "
        "(_precision_recall_f1_support)",
    ),
    Protocol(
        "torchmetrics",
        no_positive="zero",
        cf1="mean_f1",
        source="Lightning-AI/torchmetrics functional/classification/average_precision.py, "
        "precision_recall.py, f_beta.py, stat_scores.py (1.9.0: a class without positives "
        "warns and gets AP 0); no multilabel top-k there",
    ),
):
    PROTOCOLS.add(_p.name, _p)


def get_protocol(protocol: str | Protocol) -> Protocol:
    """A preset by name (an unknown name raises, listing the known ones), or ``protocol``."""
    return protocol if isinstance(protocol, Protocol) else PROTOCOLS.get(protocol)
