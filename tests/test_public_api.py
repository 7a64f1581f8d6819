"""The public namespaces only re-export, and each public name is exported once."""

import importlib

import pytest

import vatrt


@pytest.mark.parametrize("module_name", ["vatrt", "vatrt.vat"])
def test_every_public_name_is_exported_exactly_once(module_name):
    module = importlib.import_module(module_name)
    # dir(): vatrt imports its kernel side lazily, on first use of a name
    public = sorted(name for name in dir(module) if not name.startswith("_"))
    public = [n for n in public if not isinstance(getattr(module, n), type(importlib))]
    assert sorted(module.__all__) == public
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert getattr(module, name).__module__.startswith("vatrt.")


def test_every_host_error_is_a_vatrt_error():
    errors = [vatrt.ConfigError, vatrt.BundleError, vatrt.VatTerminated, vatrt.KernelPanic]
    errors += [vatrt.UpgradeFailed, vatrt.AuditError, vatrt.RejectedError, vatrt.ReplayDivergence]
    errors += [vatrt.StoreError, vatrt.KernelClosed, vatrt.VatStartFailed]
    assert all(issubclass(e, vatrt.VatrtError) for e in errors)
