"""Configs: TOML in, dotted overrides, errors that name the key, stable hashes."""

from __future__ import annotations

import pytest

from scac.config import (
    ConfigError,
    RunConfig,
    config_hash,
    flatten,
    from_dict,
    load_recipe,
    parse_override,
    to_dict,
    with_overrides,
)
from scac.families.spatial_context import SCACConfig


def test_round_trip_and_defaults_are_the_paper():
    cfg = RunConfig()
    assert from_dict(to_dict(cfg)) == cfg
    assert cfg.model.backbone == "resnext101_32x8d" and cfg.model.sigma == 0.5
    assert cfg.train.batch_size == 2
    p = cfg.train.phases
    assert [ph.freeze for ph in p] == [("backbone",), ()]
    assert (p[1].lr, p[1].momentum, p[1].weight_decay) == (0.002, 0.5, 0.01)


def test_overrides_apply_and_validate():
    cfg = with_overrides(
        RunConfig(),
        {"model.context_ratio": 3, "train.phases.1.epochs": 4, "model.branches": ["object"]},
    )
    assert cfg.model.context_ratio == 3.0 and isinstance(cfg.model.context_ratio, float)
    assert cfg.train.phases[1].epochs == 4 and cfg.model.branches == ("object",)
    assert flatten(cfg)["train.phases.1.epochs"] == 4


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "model.context_ratoi",
            2.0,
            "unknown config key 'model.context_ratoi'.*did you mean 'context_ratio'",
        ),
        ("model.context_ratio", "wide", "'model.context_ratio' must be a number"),
        ("train.phases.5.epochs", 1, "not an index < 2"),
        ("train.batch_size", 2.5, "'train.batch_size' must be an integer"),
        ("data.hflip", 1, "'data.hflip' must be true or false"),
        ("model.name", "nosuchmodel", "unknown model 'nosuchmodel'; known: .*scac"),
    ],
)
def test_bad_overrides_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        with_overrides(RunConfig(), {key: value})


def test_unknown_key_in_a_file_names_file_and_key(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text('[model]\nname = "scac"\nfusion_mode = "max"\n')
    with pytest.raises(ConfigError, match=r"r.toml: unknown config key 'model.fusion_mode'"):
        load_recipe(f)


def test_malformed_toml_names_file_and_line(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text('seed = 1\n[model\nname = "scac"\n')
    with pytest.raises(ConfigError, match=r"malformed TOML in .*broken.toml: .*line 2"):
        load_recipe(f)


def test_parse_override_reads_toml_literals_and_bare_words():
    assert parse_override("model.context_ratio=2") == ("model.context_ratio", 2)
    assert parse_override("model.branches=['object']") == ("model.branches", ["object"])
    assert parse_override("model.fusion = max") == ("model.fusion", "max")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("model.fusion")


def test_hash_is_stable_and_sensitive():
    a, b = RunConfig(), RunConfig(model=SCACConfig(context_ratio=2.5))
    assert config_hash(a) == config_hash(RunConfig())
    assert config_hash(a) != config_hash(b)
    assert config_hash(a, "data-1") != config_hash(a, "data-2")


def test_a_field_at_its_unkeyed_value_is_left_out_of_the_run_key():
    from scac.config import key_dict, to_dict

    base = from_dict({})
    assert "fusion_stage" not in key_dict(base)["model"]
    assert "lr_decay" not in key_dict(base)["train"]["phases"][0]
    assert to_dict(base)["model"]["fusion_stage"] == "image"  # the stored config names it
    for key, value in (("model.fusion_stage", "patch"), ("train.phases.0.lr_decay", 0.01)):
        changed = with_overrides(base, {key: value})
        assert config_hash(changed) != config_hash(base), key
    # set back to the unkeyed value, the key is the one the config had before the field existed
    again = with_overrides(with_overrides(base, {"model.fusion_stage": "patch"}),
                           {"model.fusion_stage": "image"})  # fmt: skip
    assert config_hash(again) == config_hash(base)


def test_every_unkeyed_value_is_a_value_its_field_accepts():
    """A mistyped Unkeyed value would key the default silently: each must be a valid value."""
    import dataclasses
    import typing

    from scac.config_fields import Unkeyed, _problem
    from scac.families import FAMILIES
    from scac.sections import DataConfig, EvalConfig, PhaseConfig, SynthConfig, TrainConfig

    classes = [DataConfig, EvalConfig, PhaseConfig, SynthConfig, TrainConfig]
    for name in FAMILIES.names():
        classes += [FAMILIES.get(name).config, FAMILIES.get(name).loss_config]
    marked = 0
    for cls in classes:
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            if typing.get_origin(hints[f.name]) is not typing.Annotated:
                continue
            for mark in typing.get_args(hints[f.name])[1:]:
                if isinstance(mark, Unkeyed):
                    marked += 1
                    assert _problem(mark.value, hints[f.name]) is None, (cls.__name__, f.name)
    assert marked >= 7
