"""The import rules docs/architecture.md promises, checked on the source."""

import ast
import re
from pathlib import Path

VATRT = Path(__file__).resolve().parent.parent / "vatrt"


def imported_modules(path):
    """The vatrt modules `path` imports (dotted, absolute), TYPE_CHECKING ones too."""
    package = ".".join(path.relative_to(VATRT.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("vatrt")}


def modules_under(folder):
    return sorted((VATRT / folder).rglob("*.py"))


def test_no_kernel_helper_imports_the_kernel():
    for path in modules_under("_kernel"):
        if path.name in ("kernel.py", "core.py"):
            continue
        imported = imported_modules(path)
        assert "vatrt._kernel.kernel" not in imported, path.name
        assert "vatrt._kernel.core" not in imported, path.name


def test_the_kernels_core_leaves_the_host_api_to_the_kernel():
    """`core` (compiled in the compiled build) never imports `kernel` (plain
    Python, the host's calls that take arguments)."""
    assert "vatrt._kernel.kernel" not in imported_modules(VATRT / "_kernel" / "core.py")


def test_the_kernel_imports_no_worker_kind_and_no_liveslots():
    for path in modules_under("_kernel"):
        for name in imported_modules(path):
            assert not name.startswith("vatrt._liveslots"), (path.name, name)
            assert not name.startswith("vatrt._worker.local"), (path.name, name)


def test_kernel_state_imports_only_the_store_marshal_refs_and_errors():
    allowed = ("vatrt._kernel.state", "vatrt._store", "vatrt._marshal", "vatrt._refs")
    allowed += ("vatrt.errors", "vatrt._bundle_format")
    for path in modules_under("_kernel/state"):
        for name in imported_modules(path):
            assert name.startswith(allowed), (path.name, name)


def test_liveslots_imports_no_kernel_no_worker_and_no_store():
    for path in modules_under("_liveslots"):
        for name in imported_modules(path):
            assert not name.startswith(("vatrt._kernel", "vatrt._worker", "vatrt._store")), (
                path.name,
                name,
            )


VAT_KEY = re.compile(
    r"^\{\}\.?(options|source|incarnation|vatParameters|root|adminNode|createResult|done"
    r"|reapCountdown|t\.next|vs\.|c\.|[op]\.nextID)"
)


def vat_key_patterns(path):
    """The f-strings in `path` shaped like a vat's key (``f"{vat_id}.root"``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            shape = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            if VAT_KEY.match(shape):
                yield shape


def test_only_the_vat_keeper_names_a_vats_keys():
    """Every ``vN.*`` key is spelled in `VatKeeper`; the kernel keeper only writes
    back the c-lists it holds in memory (``vN.c.*``)."""
    for path in modules_under("_kernel"):
        if path.name in ("vat_keeper.py", "device_keeper.py"):
            continue  # the device keeper's dN.* keys share a vat's suffixes
        for shape in vat_key_patterns(path):
            assert path.name == "keeper.py", (path.name, shape)
            assert shape.startswith("{}.c."), (path.name, shape)
    assert "{}vatParameters" in set(vat_key_patterns(VATRT / "_kernel/state/vat_keeper.py"))
