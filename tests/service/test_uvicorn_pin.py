"""The uvicorn code the service overrides or leans on, pinned (issue 7).

``service.api.server.Workers`` overrides four methods of uvicorn's private worker
supervisor, and ``service.api.http.protocol.GuardedHttpProtocol`` is run by uvicorn's
server through an unwritten contract (the protocol factory's arguments, the server
state's ``connections``, ``tasks`` and ``default_headers``, ``shutdown()`` on each
connection). pyproject.toml therefore allows one minor version of uvicorn, the one
tested, and this test fails, naming the method, when the source of any of them is not
the one the service was tested with: read the new code, run tests/service against it,
then record its hash here (``sha256(inspect.getsource(obj))[:16]``).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import tomllib
from pathlib import Path

import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[2]

TESTED = {
    # overridden by service.api.server.Workers
    "uvicorn.supervisors.multiprocess:Multiprocess.__init__": "5e0f105cb4a381b5",
    "uvicorn.supervisors.multiprocess:Multiprocess.init_processes": "6c69f2a36bf55750",
    "uvicorn.supervisors.multiprocess:Multiprocess.keep_subprocess_alive": "3ba4980aa33bcecd",
    "uvicorn.supervisors.multiprocess:Multiprocess.terminate_all": "6efef9523120f025",
    # what calls them, and what they start
    "uvicorn.supervisors.multiprocess:Multiprocess.run": "306814569fbd547b",
    "uvicorn.supervisors.multiprocess:Process.__init__": "a8c85f799aae5b2c",
    # the protocol's contract with uvicorn's server
    "uvicorn.server:ServerState.__init__": "8daf3a9b4e4e4245",
    "uvicorn.server:Server.startup": "2aa1d70a244bfcf2",
    "uvicorn.server:Server.shutdown": "9b33c50562992b1e",
    "uvicorn.server:Server.on_tick": "60ea49b06ccf68c1",
    # the helpers the protocol takes from uvicorn
    "uvicorn.protocols.http.flow_control:FlowControl": "126debcdaa894c83",
    "uvicorn.protocols.utils:get_local_addr": "6be1e23931c77938",
    "uvicorn.protocols.utils:get_remote_addr": "5cb127377672c133",
    "uvicorn.protocols.utils:is_ssl": "cfb89711af847b7e",
}


def digest(name: str) -> str:
    module, _, attribute = name.partition(":")
    obj = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", list(TESTED))
def test_the_uvicorn_code_the_service_leans_on_is_the_tested_one(name: str) -> None:
    assert digest(name) == TESTED[name], (
        f"uvicorn's {name} is not the code the service was tested with (uvicorn {uvicorn.__version__}): "
        "read it, run tests/service, then record its new hash in this file")


def test_pyproject_allows_one_minor_version_of_uvicorn_the_installed_one() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in dependencies if re.match(r"uvicorn\b", d))
    match = re.fullmatch(r"uvicorn>=(\d+)\.(\d+)(?:\.\d+)?,<(\d+)\.(\d+)", spec)
    assert match, f"uvicorn is not pinned to one minor version in pyproject.toml: {spec}"
    major, minor, next_major, next_minor = map(int, match.groups())
    assert (next_major, next_minor) == (major, minor + 1), spec
    assert tuple(map(int, uvicorn.__version__.split(".")[:2])) == (major, minor), (spec, uvicorn.__version__)
