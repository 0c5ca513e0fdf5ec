"""Where the toolkit's own data lives: its studies and the papers' tables.

In a clone they are ``studies/`` and ``results/reported/`` at the repository's root; an installed
package carries copies under ``bench/resources/`` (``setup.py`` puts them there). This module
names the one that exists, so the rest of the toolkit never guesses a path.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # bench/
_REPOSITORY = _PACKAGE.parent
_IN_REPOSITORY = {
    "studies": _REPOSITORY / "studies",
    "reported": _REPOSITORY / "results" / "reported",
}


def bundled(name: str) -> Path:
    """The folder of the toolkit's own ``studies`` or ``reported`` tables.

    Raises:
        KeyError: another name.
    """
    packaged = _PACKAGE / "resources" / name
    if packaged.is_dir():
        return packaged
    return _IN_REPOSITORY[name]
