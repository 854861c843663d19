"""The README's "Error codes" table is the contract clients read: it must list exactly the
codes of ``service.api.errors.Code``, each spelt as its attribute, with the statuses the code
base raises it with. The other tests compare bodies against the constant, so a renamed
string (``QUEUE_FULL`` -> ``QUEUE_IS_FULL``) would pass them all (issue 15).
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from service.api.errors import no_model
from service.api.errors import Code
from service.api.http.framing import FramingError

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"

_ROW = re.compile(r"^\| `([A-Z_]+)` \| ([^|]+) \| [^|]+ \|$")


def readme_table() -> dict[str, set[int] | None]:
    """code -> documented statuses (None for "any") from the README's "Error codes" table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Error codes\n", 1)[1].split("\n#", 1)[0]
    table: dict[str, set[int] | None] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        code, statuses = match.group(1), match.group(2).strip()
        assert code not in table, f"{code} is listed twice"
        table[code] = None if statuses == "any" else {int(s) for s in statuses.split(",")}
    return table


def code_attributes() -> dict[str, str]:
    return {name: value for name, value in vars(Code).items() if not name.startswith("_")}


def _code_name(node: ast.AST) -> str | None:
    """``X`` for the expression ``Code.X``."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Code":
        return node.attr
    return None


def _dict_code(node: ast.AST) -> str | None:
    """``X`` for a dict literal holding ``"code": Code.X``."""
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "code":
                return _code_name(value)
    return None


def raised_statuses() -> dict[str, set[int]]:
    """code -> the literal statuses it is raised with anywhere in ``service/``.

    Three forms are read: ``ApiError(<status>, Code.X, ...)``; ``raw_response(<status>,
    <reason>, {"code": Code.X, ...})`` (answers the protocol writes itself); and a
    ``<status>, NAME`` where NAME is a module-level dict with ``"code": Code.X`` (the
    guards), or ``<status>, {"code": Code.X, ...}`` (the protocol's refusals). A status computed at run time is not read (see the tests below).
    """
    found: dict[str, set[int]] = defaultdict(set)
    for path in SERVICE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bodies = {t.id: _dict_code(node.value) for node in tree.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) >= 2:
                status = node.args[0]
                if not (isinstance(status, ast.Constant) and isinstance(status.value, int)):
                    continue
                if node.func.id == "ApiError":
                    code = _code_name(node.args[1])
                elif node.func.id == "raw_response" and len(node.args) >= 3:
                    code = _dict_code(node.args[2])
                else:
                    continue
                if code is not None:
                    found[code].add(status.value)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
                status, body = node.elts
                if not (isinstance(status, ast.Constant) and isinstance(status.value, int)):
                    continue
                code = bodies.get(body.id) if isinstance(body, ast.Name) else _dict_code(body)
                if code is not None:
                    found[code].add(status.value)
    return dict(found)


def test_the_readme_lists_exactly_the_codes() -> None:
    documented, codes = readme_table(), code_attributes()
    assert len(documented) > 40  # the table was found and parsed, not an empty section
    assert set(documented) == set(codes.values())


def test_each_code_string_is_its_attribute_name() -> None:
    for name, value in code_attributes().items():
        assert value == name


def test_each_code_is_raised_with_the_statuses_the_readme_documents() -> None:
    documented, raised = readme_table(), raised_statuses()
    assert len(raised) > 30  # the scan reads the raise sites, not nothing
    for code, statuses in raised.items():
        assert code in documented, f"Code.{code} is raised but not documented"
        if documented[code] is not None:
            assert statuses <= documented[code], (code, statuses, documented[code])  # type: ignore[operator]


def test_each_documented_status_is_one_a_code_is_raised_with() -> None:
    """The reverse: no stale status in the table (the codes whose status the scan can read)."""
    documented, raised = readme_table(), raised_statuses()
    for code, statuses in raised.items():
        if documented.get(code) is not None:
            assert documented[code] == statuses, (code, documented[code], statuses)


def test_every_code_is_used_outside_its_definition() -> None:
    """A code in the table that nothing raises would be a promise kept by no one."""
    used: set[str] = set()
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = _code_name(node)
            if name is not None:
                used.add(name)
    assert set(code_attributes()) <= used


class _EmptyQueue:
    def pending(self) -> list[object]:
        return []


@pytest.mark.parametrize("code", [Code.NO_MODEL, Code.NOT_READY])
def test_no_model_answers_with_the_documented_status(code: str) -> None:
    """The status of ``no_model`` is not a literal at the call site: checked by calling it."""
    err = no_model(_EmptyQueue(), code)  # type: ignore[arg-type]
    assert readme_table()[code] == {err.status}
    assert err.code == code


def test_a_framing_error_answers_with_the_documented_status() -> None:
    assert readme_table()[FramingError.code] == {FramingError("x").error_status_hint}
