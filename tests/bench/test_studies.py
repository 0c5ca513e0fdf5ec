"""Study files: every shipped study is valid; bad ones fail naming file, arm and key."""

from __future__ import annotations

import pytest

from bench.runs.plan import plan_study
from bench.studies.files import known_studies, load_study
from scac.config import ConfigError, flatten


def specs(study, **options):
    """The run specs a study plans (arm, seed, config, key), in its order."""
    return plan_study(study, **options).runs


def test_shipped_studies_are_valid_and_say_why():
    names = known_studies()
    assert {"context_ratio", "sigma", "loss_weights", "branches"} <= set(names)
    for name in names:
        study = load_study(name)
        assert study.question.endswith("?")
        assert all(arm.reason for arm in study.arms)
        runs = specs(study)
        assert len(runs) == len(study.arms) * len(study.seeds)


def _leaves(key: str, value) -> dict:
    """An override as dotted keys to leaf values (a list of tables as ``key.0.field``)."""
    if isinstance(value, dict):
        return {k: v for f, x in value.items() for k, v in _leaves(f"{key}.{f}", x).items()}
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        return {k: v for i, x in enumerate(value) for k, v in _leaves(f"{key}.{i}", x).items()}
    return {key: list(value) if isinstance(value, tuple | list) else value}


@pytest.mark.parametrize("name", known_studies())
def test_every_arm_of_every_study_is_what_it_says(name):
    """Each arm's config takes every value its ``set`` names, and no two arms are one run:
    what a smoke run of every arm used to show, without training."""
    study = load_study(name)
    runs = specs(study, seeds=(study.seeds[0],))
    assert len({s.key for s in runs}) == len(study.arms), "two arms resolve to one run"
    for arm, spec in zip(study.arms, runs, strict=True):
        have = flatten(spec.config)
        for key, value in arm.overrides.items():
            for leaf, want in _leaves(key, value).items():
                got = have[leaf]
                got = list(got) if isinstance(got, tuple | list) else got
                assert got == want, (name, arm.name, leaf, got, want)


def test_context_ratio_arms_set_the_ratio_and_include_no_context():
    study = load_study("context_ratio")
    ratios = {s.config.model.context_ratio for s in specs(study)}
    assert 1.0 in ratios and len(ratios) >= 4
    assert {s.seed for s in specs(study)} == set(study.seeds) and len(study.seeds) >= 3


def test_smoke_and_command_line_overrides_apply_last():
    study = load_study("context_ratio")
    runs = specs(study, smoke=True, overrides={"model.sigma": 2.0})
    assert {s.seed for s in runs} == {0}
    assert all(s.config.data.synth.train == 24 and s.config.model.sigma == 2.0 for s in runs)
    assert all(s.config.model.weights == "none" for s in runs)
    assert {s.variant for s in runs} == {"model.sigma=2.0"}


def test_set_wins_over_smoke():
    """Issue 15: ``--smoke --set train.phases.0.epochs=6`` trained 1 epoch under the same keys."""
    study = load_study("branches")
    plain = specs(study, smoke=True)
    longer = specs(study, smoke=True, overrides={"train.phases.0.epochs": 6})
    assert {s.config.train.phases[0].epochs for s in plain} == {1}
    assert {s.config.train.phases[0].epochs for s in longer} == {6}
    assert not {s.key for s in plain} & {s.key for s in longer}


def test_set_of_a_key_the_arms_vary_is_refused():
    with pytest.raises(ConfigError, match=r"--set model.context_ratio: the study's arms set this"):
        specs(load_study("context_ratio"), overrides={"model.context_ratio": 3.0})
    with pytest.raises(ConfigError, match=r"--set seed: choose the seeds of a study with --seeds"):
        specs(load_study("context_ratio"), overrides={"seed": 3})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train.amp": "fp8"}, r"'train.amp' must be one of 'none', 'bf16', 'fp16', got 'fp8'"),
        ({"model.fusion": "median"}, r"'model.fusion': unknown 'median'; did you mean 'mean'"),
        ({"eval.threshold": 1.5}, r"'eval.threshold' must be in \[0, 1\], got 1.5"),
        ({"data.holdout": 1.0}, r"'data.holdout' must be in \[0, 1\), got 1.0"),
        ({"model.aggregation": "median"}, r"'model.aggregation': unknown 'median'"),
        ({"train.cpu_threads": 0}, r"'train.cpu_threads' must be >= 1, got 0"),
    ],
)
def test_impossible_values_fail_when_the_study_is_planned(overrides, message):
    """Issue 15: such values were found only when each run started, one failure per run."""
    with pytest.raises(ConfigError, match=message):
        specs(load_study("branches"), overrides=overrides)


def test_the_smoke_layer_shrinks_what_arms_set_and_the_study_smoke_comes_after_them():
    srn = specs(load_study("srn_variants"), smoke=True)
    assert all(s.config.model.weights == "none" for s in srn)
    assert all(p.epochs == 1 for s in srn for p in s.config.train.phases[:2])
    partial = specs(load_study("partial_labels"), smoke=True)
    assert {s.config.model.weights for s in partial} == {"none"}


def test_arm_values_are_checked_too(tmp_path):
    text = (
        'question = "q?"\nrecipe = "synth"\n[[arms]]\nname = "a"\nreason = "r"\n'
        'set = { "model.branches" = ["objects"] }\n'
    )
    with pytest.raises(ConfigError, match=r"arm 'a': config key 'model.branches.0' must be one of"):
        load_study(_write(tmp_path, text))


def test_unknown_study_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown study 'nope'; known: .*context_ratio"):
        load_study("nope")


def _write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


def test_malformed_toml_names_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"malformed TOML in .*mine.toml: .*line 3"):
        load_study(_write(tmp_path, 'question = "q?"\nrecipe = "synth"\n[[arms]\n'))


def test_unknown_override_key_names_the_arm_and_key(tmp_path):
    text = (
        'question = "q?"\nrecipe = "synth"\n[[arms]]\nname = "a"\nreason = "r"\n'
        'set = { "model.context_ration" = 2.0 }\n'
    )
    with pytest.raises(
        ConfigError, match=r"mine.toml: arm 'a': unknown config key 'model.context_ration'"
    ):
        load_study(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('question = "q?"\nrecipe = "synth"\n[[arms]]\nname = "a"\n', "needs a name and a reason"),
        ('question = "q?"\nrecipe = "synth"\narms = []\ncolour = 1\n', "unknown key 'colour'"),
        ('question = "q?"\nrecipe = "nope"\narms = []\n', "unknown recipe 'nope'; known: .*synth"),
        (
            'question = "q?"\nrecipe = "synth"\nreference = "z"\narms = []\n',
            "reference arm 'z' is not an arm",
        ),
    ],
)
def test_bad_study_files(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_study(_write(tmp_path, text))
