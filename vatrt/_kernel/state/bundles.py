"""The bundle store: every installed bundle's source kept by its ID.

A bundle ID is ``b1-`` + the sha256 of its canonical text's UTF-8 bytes (the
source of a single module, or a package's canonical JSON: `_bundle_format`), so an upgrade,
a restart or a replay runs exactly the code it ran before, whatever happens to
the file later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from ..._bundle_format import read_bundle
from ...errors import BundleError
from .keeper import KernelKeeper
from .schema import dumps, loads

BUNDLE_ID_PREFIX = "b1-"


def bundle_id_of(source: str) -> str:
    return BUNDLE_ID_PREFIX + hashlib.sha256(source.encode()).hexdigest()


def is_bundle_id(value: object) -> bool:
    return isinstance(value, str) and value.startswith(BUNDLE_ID_PREFIX) and len(value) == 67


class BundleStore:
    def __init__(self, keeper: KernelKeeper, validate: Callable[[str, str], None]) -> None:
        self.kv = keeper.kv
        self._validate = validate

    def install(self, source: str, filename: str) -> str:
        """Check that the bundle loads and defines build_root_object, then keep it."""
        self.check(source, filename)
        return self.keep(source, filename)

    def check(self, source: str, filename: str) -> None:
        """Check that a bundle loads, keeping nothing (a BundleError if not)."""
        if not self.has(bundle_id_of(source)):
            self._validate(source, filename)

    def keep(self, source: str, filename: str) -> str:
        """Keep a bundle that `check` passed; its ID."""
        bundle_id = bundle_id_of(source)
        if not self.has(bundle_id):
            self.kv.set(f"bundle.{bundle_id}", dumps({"filename": filename, "source": source}))
        return bundle_id

    def install_file(self, path: Path) -> str:
        """Install a bundle file, or a package directory (with ``__init__.py``)."""
        return self.keep(*self.check_file(path))

    def check_file(self, path: Path) -> tuple[str, str]:
        """Read a bundle file, or a package directory, and `check` it: its
        ``(source, filename)``, to `keep`.

        Only regular files within the size limits are read (`_bundle_format`): a
        device, a FIFO or a huge file is a BundleError before it is read."""
        try:
            source = read_bundle(path)
        except OSError as e:
            where = e.filename if e.filename and str(e.filename) != str(path) else None
            shown = f"{path} ({where})" if where else f"{path}"
            raise BundleError(f"cannot read bundle {shown}: {e.strerror or e}") from None
        except ValueError as e:
            raise BundleError(f"bundle {path}: {e}") from None
        self.check(source, str(path))
        return source, str(path)

    def get(self, bundle_id: str) -> tuple[str, str]:
        """(source, filename) of an installed bundle."""
        record = self.kv.get(f"bundle.{bundle_id}")
        if record is None:
            raise BundleError(f"no installed bundle {bundle_id}")
        value = loads(record)
        return value["source"], value["filename"]

    def has(self, bundle_id: str) -> bool:
        return self.kv.get(f"bundle.{bundle_id}") is not None

    def name(self, name: str, bundle_id: str) -> None:
        self.kv.set(f"namedBundle.{name}", bundle_id)

    def by_name(self, name: str) -> str | None:
        return self.kv.get(f"namedBundle.{name}")

    def names(self) -> list[str]:
        """The config bundles' names (for a "did you mean")."""
        return [
            key.removeprefix("namedBundle.") for key, _ in self.kv.items_with_prefix("namedBundle.")
        ]
