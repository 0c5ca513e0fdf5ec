"""The peer models' studies: SRN's Table 2, the latent-context Table 3 and Table 5, end to end."""

from __future__ import annotations

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from bench.cli.main import app
from bench.runs.plan import plan_study
from bench.store import Store
from bench.studies.files import load_study

runner = CliRunner()
PEER_STUDIES = ["srn_variants", "latent_context_modules", "partial_labels"]


def specs(study, **options):
    """The run specs a study plans (arm, seed, config, key), in its order."""
    return plan_study(study, **options).runs


@pytest.mark.parametrize("name", PEER_STUDIES)
def test_study_asks_a_question_and_every_arm_says_why(name):
    study = load_study(name)
    assert study.question.endswith("?") and len(study.seeds) >= 3
    assert all(len(arm.reason) > 20 for arm in study.arms)
    for spec in specs(study):  # the synthetic default: shallow backbone, synthetic weights
        assert spec.config.model.backbone == "shallow" and spec.config.model.weights == "synthetic"
        assert spec.config.data.format == "synth"


def test_srn_variants_are_the_rows_of_table_2():
    arms = {s.arm: s.config.model for s in specs(load_study("srn_variants"), seeds=(0,))}
    assert list(arms) == [
        "ResNet-101",
        "ResNet-107",
        "ResNet-101-semantic",
        "ResNet-SRN-att",
        "ResNet-SRN",
    ]
    assert arms["ResNet-101"].name == "resnet_baseline" and arms["ResNet-101"].extra_blocks == 0
    assert arms["ResNet-107"].extra_blocks == 2
    assert arms["ResNet-101-semantic"].name == "resnet_semantic"
    assert not arms["ResNet-SRN-att"].weighted_attention and arms["ResNet-SRN"].weighted_attention


def test_latent_context_arms_are_the_switches_of_table_3():
    keys = ("mlff", "lcie", "spatial", "full", "partial", "share_encoder")
    rows = [
        tuple(getattr(s.config.model, k) for k in keys)
        for s in specs(load_study("latent_context_modules"), seeds=(0,))
    ]
    on, off = True, False
    assert [row[:5] for row in rows] == [
        (off, off, off, off, off),
        (on, off, off, off, off),
        (on, on, off, off, off),
        (on, on, off, on, off),
        (on, off, on, on, off),
        (on, on, on, on, off),
        (on, on, on, on, on),
        (on, on, on, on, on),
    ]
    assert [row[5] for row in rows[-2:]] == [False, True]


def test_partial_labels_covers_table_5_for_both_models():
    runs = specs(load_study("partial_labels"), seeds=(0,))
    for model in ("resnet_baseline", "latent_context"):
        drops = [s.config.data.drop_labels for s in runs if s.config.model.name == model]
        assert drops == pytest.approx([p / 10 for p in range(10)])


@pytest.mark.slow  # every arm of the three studies: about a minute on 2 cores
@pytest.mark.parametrize("name", PEER_STUDIES)
def test_study_runs_end_to_end_in_smoke_form(tmp_path, name):
    """Every arm trains and is scored through the CLI, the run store and the metrics."""
    store = str(tmp_path / "s.sqlite")
    result = runner.invoke(
        app, ["run", "study", name, "--smoke", "--store", store, "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "FAILED" not in result.output
    for arm in load_study(name).arms:
        assert arm.name in result.output
    runs = Store(store).list_runs(study=name)
    assert all(r["status"] == "finished" and "mAP" in r["metrics"] for r in runs)
    expected = {
        (s.arm, s.config.model.name, s.config.data.drop_labels)
        for s in specs(load_study(name), smoke=True)
    }
    measured = {
        (r["arm"], r["config"]["model"]["name"], r["config"]["data"]["drop_labels"]) for r in runs
    }
    assert measured == expected


# one arm of each model family, through the CLI, the run layer, the store and the metrics
FAMILY_RECIPES = {
    "scac": ("synth", {}),
    "resnet_baseline": ("baseline-synth", {}),
    "resnet_semantic": ("baseline-synth", {"model.name": "resnet_semantic", "model.hidden": 16}),
    "srn": ("srn-synth", {}),
    "latent_context": ("lc-synth", {}),
}


# the terms each family's objective reports (its weighted sum is "loss")
FAMILY_TERMS = {
    "scac": {f"loss/{t}" for t in ("rpn_objectness", "rpn_box", "Lr", "Lp", "Ll_obj", "Ll_ctx")},
    "resnet_baseline": {"loss/cls"},
    "resnet_semantic": {"loss/cls", "loss/semantic"},
    "srn": {f"loss/{t}" for t in ("cls", "att", "sr", "final")},
    "latent_context": {"loss/cls", "loss/infer"},
}


# resnet_semantic is resnet_baseline with one more head, and its arm the longest (about 12 s)
FAMILY_PARAMS = [
    pytest.param(f, marks=pytest.mark.slow) if f == "resnet_semantic" else f
    for f in sorted(FAMILY_RECIPES)
]


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_one_arm_of_every_family_trains_end_to_end(tmp_path, family):
    recipe, arm = FAMILY_RECIPES[family]
    sets = ", ".join(f'"{k}" = {v!r}'.replace("'", '"') for k, v in arm.items())
    (tmp_path / "one.toml").write_text(
        f'question = "Does {family} train?"\nrecipe = "{recipe}"\nseeds = [0]\n'
        f'[[arms]]\nname = "{family}"\nreason = "one arm of the family"\nset = {{ {sets} }}\n'
    )
    store, board = str(tmp_path / "s.sqlite"), tmp_path / "tb"
    result = runner.invoke(
        app,
        ["run", "study", str(tmp_path / "one.toml"), "--smoke", "--store", store,
         "--tensorboard", str(board)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = Store(store).list_runs(study="one")
    assert run["state"] == "finished" and run["config"]["model"]["name"] == family
    assert 0 <= run["metrics"]["mAP"] <= 100 and len(run["per_class_ap"]) == 9
    # its training curve: the family's own loss terms, steps rising, and the same in TensorBoard
    rows = Store(store).history([run["run_key"]])
    names = {r["name"] for r in rows}
    assert {"loss", "lr", "grad_norm", "images_per_s", "epoch_loss"} | FAMILY_TERMS[family] <= names
    assert {n for n in names if n.startswith("loss/")} == FAMILY_TERMS[family]
    steps = [r["step"] for r in rows if r["name"] == "loss"]
    assert len(steps) >= 2 and steps == sorted(set(steps))
    events = EventAccumulator(str(next(board.glob("one/*/seed0-*"))))
    events.Reload()
    assert set(events.Tags()["scalars"]) == names
    assert [e.step for e in events.Scalars("loss")] == steps
