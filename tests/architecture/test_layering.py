"""Imports flow one way: a module imports only from its own layer and the layers below it.

The layers, lowest first, are declared once (``LAYERS``); docs/DESIGN.md's map lists them in the
same order. Every ``import`` counts, also those inside functions (a lazy import is still a
dependency); only ``if TYPE_CHECKING:`` blocks are left out (annotations only), as in
test_import_cycles.py, whose scanner this test reuses. A lower layer that needs something of a
higher one finds it by name at run time instead (``models.method_registry`` holds the import
paths of the method zoo, resolved by ``aigenbench.classpath``), as user plugins are found.
"""

from __future__ import annotations

from tests.architecture.test_import_cycles import PACKAGE, import_graph

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "",  # the package's __init__: version and the lazy load_detector
            "errors",
            "files",
            "classpath",
            "suggest",
            "quiet",
            "config_fields",
            "scoring",
            "templating",
            "shipped_configs",
        ),
    ),
    ("protocol", ("protocol",)),
    ("data", ("data",)),
    ("models", ("models",)),
    ("config", ("config",)),
    ("evaluation", ("evaluation",)),
    ("training", ("training",)),
    ("methods", ("methods",)),
    ("inference and export", ("inference", "export")),
    ("serve", ("serve",)),
    ("commands", ("commands",)),
    ("cli", ("cli",)),
]
"""(layer, its top-level modules and packages under ``aigenbench``), lowest first."""


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int:
    """The index in ``layers`` of ``aigenbench.<top>[.…]`` (by its top-level name)."""
    parts = module.split(".")
    assert parts[0] == PACKAGE, module
    top = parts[1] if len(parts) > 1 else ""
    for index, (_, members) in enumerate(layers):
        if top in members:
            return index
    raise AssertionError(
        f"{module} is in no layer: add {top!r} to LAYERS in tests/architecture/test_layering.py "
        "and to the map in docs/DESIGN.md"
    )


def upward_imports(
    graph: dict[str, set[str]], layers: list[tuple[str, tuple[str, ...]]] = LAYERS
) -> list[str]:
    """One line per import from a lower layer into a higher one."""
    found = []
    for importer in sorted(graph):
        low = layer_of(importer, layers)
        for imported in sorted(graph[importer]):
            high = layer_of(imported, layers)
            if high > low:
                found.append(
                    f"{importer} (layer {layers[low][0]!r}) imports {imported} "
                    f"(layer {layers[high][0]!r}, higher)"
                )
    return found


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)  # raises, naming the module, when it has none


def test_the_layers_are_declared_once_each():
    members = [top for _, tops in LAYERS for top in tops]
    assert len(members) == len(set(members))


def test_an_upward_import_is_named_with_both_layers():
    graph = {
        "aigenbench.data.loading": {"aigenbench.commands.fit", "aigenbench.errors"},
        "aigenbench.commands.fit": {"aigenbench.data.loading"},
    }
    assert upward_imports(graph) == [
        "aigenbench.data.loading (layer 'data') imports aigenbench.commands.fit "
        "(layer 'commands', higher)"
    ]


def test_a_lazy_import_into_a_higher_layer_is_seen(tmp_path, monkeypatch):
    """A function-level import counts; one under ``if TYPE_CHECKING:`` does not."""
    import tests.architecture.test_import_cycles as scanner

    root = tmp_path / "src"
    for package in ("data", "commands"):
        (root / PACKAGE / package).mkdir(parents=True)
        (root / PACKAGE / package / "__init__.py").write_text("")
    (root / PACKAGE / "__init__.py").write_text("")
    (root / PACKAGE / "data" / "lazy.py").write_text("def f():\n    import aigenbench.commands\n")
    (root / PACKAGE / "data" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import aigenbench.commands\n"
    )
    monkeypatch.setattr(scanner, "SRC", root)
    assert upward_imports(import_graph()) == [
        "aigenbench.data.lazy (layer 'data') imports aigenbench.commands (layer 'commands', higher)"
    ]


def test_no_lower_layer_imports_a_higher_one():
    upward = upward_imports(import_graph())
    assert not upward, "imports against the layering (docs/DESIGN.md):\n" + "\n".join(upward)
