"""Packaging beyond pyproject.toml: the studies and the papers' tables travel with the package.

``studies/`` (studies, recipes, sweeps) and ``results/reported/`` (the papers' tables) stay
where a reader of the repository expects them; a built package carries copies of them as
``bench/resources/studies`` and ``bench/resources/reported`` (``bench.studies.resources`` finds
either), so an installed ``bench`` runs its studies and prints its tables from any folder.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RESOURCES = {"studies": ROOT / "studies", "reported": ROOT / "results" / "reported"}


class BuildWithResources(build_py):
    """``build_py`` that also copies the studies and the papers' tables into the package."""

    def run(self) -> None:
        super().run()
        for name, source in RESOURCES.items():
            target = Path(self.build_lib) / "bench" / "resources" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithResources})
