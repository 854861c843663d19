"""Print the mutation score of the last ``bench/mutation.sh`` run, per module and in all.

killed / (total - equivalent): a timeout counts as killed (the mutant hung the tests); a
mutant no test reaches ("no tests") counts as survived. Equivalent mutants are listed, with
the reason, in ``bench/mutation_equivalent.txt`` (``<mutant name>  # why``).

    python bench/mutation_score.py [module ...] [--survivors] [--from=<saved results>]
    python bench/mutation_score.py --service [api.limits ...] [--survivors]

``--service`` reads the state of ``bench/mutation.sh --service`` (in ``.mutmut-service/``);
its modules are named from ``service``: ``api.limits``, ``api.http.guards``.
"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def equivalent() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (HERE / "mutation_equivalent.txt").read_text(encoding="utf-8").splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            out[name.strip()] = why.strip()
    return out


def results(saved: str | None = None, root: Path = HERE.parent) -> dict[str, str]:
    """Each mutant's status: from ``mutmut results --all true``, or that output saved to a file."""
    if saved is not None:
        text = Path(saved).read_text(encoding="utf-8")
    else:
        mutmut = Path(sys.executable).parent / "mutmut"
        text = subprocess.run([str(mutmut), "results", "--all", "true"], capture_output=True, text=True,
                              check=True, cwd=root).stdout
    return {name.strip(): status.strip() for name, _, status in
            (line.rpartition(":") for line in text.splitlines() if ":" in line)}


def module_of(name: str) -> str:
    package, *path, _function = name.split(".")  # <package>.<module ...>.x_<function>__mutmut_<n>
    # model_core's modules by their own name (its table's rows); the service's from service/
    return path[0] if package == "model_core" else ".".join(path)


def main(argv: list[str]) -> int:
    show = "--survivors" in argv
    saved = next((a.removeprefix("--from=") for a in argv if a.startswith("--from=")), None)
    modules = {a for a in argv if not a.startswith("--")}
    root = HERE.parent / ".mutmut-service" if "--service" in argv else HERE.parent
    eq = equivalent()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for name, status in sorted(results(saved, root).items()):
        if status == "not checked" or (modules and module_of(name) not in modules):
            continue
        c = counts[module_of(name)]
        c["total"] += 1
        if status in KILLED:
            c["killed"] += 1
        elif name in eq:
            c["equivalent"] += 1
        else:
            c["survived"] += 1
            survivors.append(f"{name}: {status}")
    total: Counter[str] = Counter()
    print(f"{'module':<18} {'killed':>7} {'total':>6} {'equiv':>6} {'left':>5} {'score':>7}")
    for module, c in sorted(counts.items()) + [("all", total)]:
        if module != "all":
            total.update(c)
        score = c["killed"] / max(1, c["total"] - c["equivalent"])
        print(f"{module:<18} {c['killed']:>7} {c['total']:>6} {c['equivalent']:>6} {c['survived']:>5} {score:>7.1%}")
    if show:
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
