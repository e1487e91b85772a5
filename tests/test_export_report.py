"""What an export writes and prints: user models' file names (module and function, never
another model's program overwritten) and the report (delegation summary; the graph on request).

The export driver runs in this process (``export_cli.run_export``): no interpreter start and
torch import per export."""

from __future__ import annotations

import textwrap

import pytest

from examples.common import cli
from examples.export import export_cli

USER_MODULE = textwrap.dedent("""
    import torch


    def factory():
        torch.manual_seed({seed})
        return torch.nn.Sequential(torch.nn.Linear(8, {width}), torch.nn.ReLU()).eval(), (torch.randn(1, 8),)
""")


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """Modules that each define a ``factory``: ``two_a``, ``two_b``, a package module
    ``two_pkg.mod`` and ``two_pkg_mod``, whose names flatten alike."""
    src = tmp_path / "src"
    (src / "two_pkg").mkdir(parents=True)
    (src / "two_pkg" / "__init__.py").write_text("")
    for seed, (name, width) in enumerate({"two_a.py": 4, "two_b.py": 6, "two_pkg/mod.py": 3,
                                          "two_pkg_mod.py": 5}.items()):
        (src / name).write_text(USER_MODULE.format(seed=seed, width=width))
    monkeypatch.syspath_prepend(str(src))
    return tmp_path / "out"


def export(model_name: str, out, **options):
    return export_cli.run_export(export_cli.ExportRequest(model_name=model_name, output_dir=str(out), **options))


@pytest.mark.slow
def test_two_user_models_named_factory_get_their_own_files(user_modules, capfd):
    from examples.integrity.card import read_card

    out = user_modules
    a, b = export("two_a:factory", out), export("two_b:factory", out)
    assert (a.name, b.name) == ("two_a_factory_xnnpack_fp32.pte", "two_b_factory_xnnpack_fp32.pte")
    assert a.read_bytes() != b.read_bytes()
    assert (read_card(a)["model"], read_card(b)["model"]) == ("two_a:factory", "two_b:factory")
    assert export("two_a:factory", out) == a  # the same model again: replaced, as before

    # Names that flatten alike: the second export is refused before anything is exported.
    first = export("two_pkg.mod:factory", out)
    program = first.read_bytes()
    capfd.readouterr()
    with pytest.raises(cli.UsageError, match="holds another model's program \\('two_pkg.mod:factory'\\)"):
        export("two_pkg_mod:factory", out)
    assert "exporting" not in capfd.readouterr().out
    assert first.read_bytes() == program and read_card(first)["model"] == "two_pkg.mod:factory"


@pytest.mark.slow
def test_export_prints_the_summary_and_the_graph_only_on_request(user_modules, capfd):
    capfd.readouterr()
    export("two_a:factory", user_modules)
    default = capfd.readouterr().out
    assert "delegation summary: 1 delegated subgraph(s)" in default
    assert "lowered graph" not in default and "placeholder" not in default
    export("two_a:factory", user_modules, print_graph=True)
    asked = capfd.readouterr().out
    assert "lowered graph (edge dialect):" in asked and "placeholder[target=" in asked
    assert asked.index("executorch_call_delegate") < asked.index("delegation summary")


def test_user_model_names_carry_module_and_function():
    from examples.models.zoo import resolve_model, user_model_name

    assert user_model_name("my_pkg.models", "factory") == "my_pkg_models_factory"
    assert resolve_model("tests.export_helpers:factory").name == "tests_export_helpers_factory"
    assert resolve_model("mv2").name == "mv2"  # zoo names stay
