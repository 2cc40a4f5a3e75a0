"""Every module's public names, as httpx keeps its own: ``__all__`` sorted, every name in it importable, and
nothing public left out of it (a class or function defined in a module; any public name a package imports).

Sorted as ruff's RUF022 sorts it (isort-style): CONSTANTS, then Classes, then functions, each alphabetically."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

import avito_kit


def public_modules() -> list[str]:
    found = [avito_kit.__name__]
    for info in pkgutil.walk_packages(avito_kit.__path__, prefix=f"{avito_kit.__name__}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found)


MODULES = public_modules()


def isort_style(name: str) -> tuple[int, str]:
    if name.isupper() and len(name) > 1:
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def defined_here(module: types.ModuleType) -> set[str]:
    """The public classes and functions written in ``module`` itself (not imported into it)."""
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", None) == module.__name__}


def imported_names(package: types.ModuleType) -> set[str]:
    """What a package's ``__init__`` binds publicly: its whole public face, submodules and what it imports from
    outside avito_kit for its own use (``typing``, ``__future__``) aside."""
    return {name for name, value in vars(package).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType) and not from_outside(value)}


def from_outside(value: object) -> bool:
    """A class, function or marker from another library (``typing.Any``, ``__future__.annotations``)."""
    defined = value if inspect.isclass(value) or inspect.isroutine(value) else type(value)
    module = getattr(defined, "__module__", "") or ""
    return module != "builtins" and module.split(".")[0] != "avito_kit"


def test_every_public_module_is_checked():
    expected = {"avito_kit", "avito_kit.auth", "avito_kit.charts", "avito_kit.client", "avito_kit.dates",
                "avito_kit.errors", "avito_kit.format", "avito_kit.limits", "avito_kit.metrics", "avito_kit.report",
                "avito_kit.sandbox", "avito_kit.session", "avito_kit.store", "avito_kit.sync", "avito_kit.widgets"}
    assert expected <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_names_only_what_exists(name):
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=isort_style), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{name}.__all__ names something twice"
    missing = [member for member in exported if not hasattr(module, member)]
    assert not missing, f"{name}.__all__ names what {name} does not have: {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_and_function_is_exported(name):
    module = importlib.import_module(name)
    public = defined_here(module)
    if hasattr(module, "__path__"):  # a package: everything its __init__ imports is its public face
        public |= imported_names(module)
    left_out = sorted(public - set(module.__all__))
    assert not left_out, f"public in {name} but not in its __all__: {left_out}"


def test_the_package_exports_exactly_what_it_imports():
    """Dropping a name (``open_client``, say) from ``avito_kit.__all__`` fails here."""
    assert set(avito_kit.__all__) == imported_names(avito_kit)
