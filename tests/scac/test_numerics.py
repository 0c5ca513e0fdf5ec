"""The numerics path: chosen before torch loads, named in every run key, refused when lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scac import numerics
from tests.golden import ROOT

PROBE = (
    "import json, os, sys; {first}; "
    "print(json.dumps({{'env': {{k: os.environ.get(k) for k in {keys!r}}}, "
    "'isa': sys.modules['torch'].backends.cpu.get_cpu_capability()}}))"
)
KEYS = [*numerics.PINNED_ENV, numerics.ENV]
needs_pin = pytest.mark.skipif(not numerics.pinnable(), reason="no pinned path on this CPU")


def _probe(first: str, **env) -> dict:
    """What a fresh interpreter has after ``first`` (which must load torch)."""
    base = {k: v for k, v in os.environ.items() if k not in (*KEYS, *numerics.KERNEL_ENV)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(first=first, keys=KEYS)],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_pin
def test_importing_scac_pins_the_kernels_before_torch_loads():
    got = _probe("import scac, torch")
    assert got["isa"] == "AVX2"
    assert got["env"] == {**numerics.PINNED_ENV, numerics.ENV: "pinned"}


@needs_pin
def test_native_leaves_the_machine_its_kernels():
    got = _probe("import scac, torch", SCAC_NUMERICS="native")
    assert all(got["env"][k] is None for k in numerics.PINNED_ENV)
    native = _probe("import torch")["isa"]
    assert got["isa"] == native


@needs_pin
def test_choosing_native_after_the_default_undoes_the_pinning():
    got = _probe("import scac; scac.numerics.select('native'); import torch")
    assert all(got["env"][k] is None for k in numerics.PINNED_ENV)
    assert got["env"][numerics.ENV] == "native"


def test_a_user_setting_survives_native():
    got = _probe("import scac, torch", SCAC_NUMERICS="native", MKL_CBWR="AVX2")
    assert got["env"]["MKL_CBWR"] == "AVX2"


def test_a_process_whose_torch_loaded_first_is_refused():
    first = "import torch; torch.ones(1).add(1); import scac; scac.numerics.select('pinned')"
    done = subprocess.run(
        [sys.executable, "-c", first],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in KEYS},
        capture_output=True,
        text=True,
    )
    if numerics.pinnable() and _probe("import torch")["isa"] != "AVX2":
        assert done.returncode != 0
        assert "cannot compute on the 'pinned' numerics path" in done.stderr
        assert "Import scac before torch" in done.stderr


def test_an_unknown_mode_is_named():
    with pytest.raises(numerics.NumericsError, match=r"--numerics must be one of .*'fast'"):
        numerics.mode("fast")
    os.environ[numerics.ENV], before = "fast", os.environ[numerics.ENV]
    try:
        with pytest.raises(numerics.NumericsError, match=r"\$SCAC_NUMERICS must be one of"):
            numerics.mode()
    finally:
        os.environ[numerics.ENV] = before


def test_paths_name_what_decides_the_numbers(monkeypatch):
    pinned, native = numerics.identity("cpu", "pinned"), numerics.identity("cpu", "native")
    assert "torch " in pinned and "torchvision " in pinned
    assert numerics.cpu().model in native
    if numerics.pinnable():
        assert pinned.startswith("pinned-avx2") and pinned != native
        # on a CPU, deterministic computes what pinned does: one key
        assert numerics.identity("cpu", "deterministic") == pinned
    assert numerics.identity("cuda", "pinned") == numerics.identity("cuda", "native")
    assert numerics.identity("cuda", "deterministic") != numerics.identity("cuda", "pinned")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert numerics.identity("cpu", "pinned").endswith("; world 4")


def test_a_native_path_names_the_kernel_settings_in_force(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")
    assert "ONEDNN_MAX_CPU_ISA=SSE41" in numerics.cpu_path("native")


def test_this_test_process_computes_on_the_default_path():
    numerics.check()  # conftest imports scac before torch
