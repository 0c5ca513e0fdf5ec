"""Study files: every shipped study is valid; bad ones fail naming file, arm and key."""

from __future__ import annotations

import pytest

from bench.studies import expand, known_studies, load_study
from scac.config import ConfigError


def test_shipped_studies_are_valid_and_say_why():
    names = known_studies()
    assert {"context_ratio", "sigma", "loss_weights", "branches"} <= set(names)
    for name in names:
        study = load_study(name)
        assert study.question.endswith("?")
        assert all(arm.reason for arm in study.arms)
        specs = expand(study)
        assert len(specs) == len(study.arms) * len(study.seeds)


def test_context_ratio_arms_set_the_ratio_and_include_no_context():
    study = load_study("context_ratio")
    ratios = {s.config.model.context_ratio for s in expand(study)}
    assert 1.0 in ratios and len(ratios) >= 4
    assert {s.seed for s in expand(study)} == set(study.seeds) and len(study.seeds) >= 3


def test_smoke_and_command_line_overrides_apply_last():
    study = load_study("context_ratio")
    specs = expand(study, smoke=True, overrides={"model.sigma": 2.0})
    assert {s.seed for s in specs} == {0}
    assert all(s.config.data.synth.train == 24 and s.config.model.sigma == 2.0 for s in specs)
    assert all(s.config.model.weights == "none" for s in specs)


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
