"""Where the vats the kernel ships (``vats/`` at the top of the repository) are."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def shipped_vats_dir() -> Path:
    """``vatrt/_vats`` in an installed wheel, else ``vats/`` beside the package."""
    for candidate in (_HERE.parent / "_vats", _HERE.parent.parent / "vats"):
        if (candidate / "vat_admin.py").is_file():
            return candidate
    raise FileNotFoundError("the shipped vats (vats/vat_admin.py) are not installed")


def vat_admin_bundle_path() -> Path:
    return shipped_vats_dir() / "vat_admin.py"
