"""Count the ``typing.Any`` left in the package's code, module by module (tox's lint env).

Two counts, side by side:

* **uses**: every reference to ``Any`` in the source (an AST walk): a parameter's or a return
  annotation, a variable's, a type alias, ``cast(Any, …)``, each ``Any`` inside
  ``dict[str, Any]``, annotations in quotes; the import itself does not count;
* **mypy**: with ``--mypy``, the places mypy --strict reports with ``--disallow-any-explicit``
  (one per annotation or signature that holds an ``Any``, however many it holds).

It prints; it fails only with ``--max N`` when there are more than N uses (issue 23 aims
under 60, each one left with a ``# Any:`` comment giving its reason).

    python tools/count_any.py            # the totals, then each module
    python tools/count_any.py --mypy     # and mypy's count (needs the lint env's mypy)
    python tools/count_any.py --max 60   # exit 1 above 60 uses (a ceiling for the lint env)
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "django_slack_rules"


def any_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The names ``Any`` is imported as, and the names ``typing`` is imported as."""
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("typing", "typing_extensions"):
            names.update(a.asname or a.name for a in node.names if a.name == "Any")
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name == "typing")
    return names, modules


def count(source: str) -> int:
    """How many times ``Any`` is used in ``source``, annotations in quotes included."""
    tree = ast.parse(source)
    names, modules = any_names(tree)
    found = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and names:
            found += quoted(node.value, names)
        else:
            found += is_any(node, names, modules)
    return found


def is_any(node: ast.AST, names: set[str], modules: set[str]) -> bool:
    """``Any``, or ``typing.Any``."""
    if isinstance(node, ast.Name):
        return node.id in names
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "Any"
        and isinstance(node.value, ast.Name)
        and node.value.id in modules
    )


def quoted(text: str, names: set[str]) -> int:
    """``Any`` in a string that parses as a type expression (``"dict[str, Any]"``); 0 for
    any other string (a docstring, a message)."""
    if not any(name in text for name in names):
        return 0
    try:
        expression = ast.parse(text, mode="eval")
    except SyntaxError:
        return 0
    return sum(isinstance(n, ast.Name) and n.id in names for n in ast.walk(expression))


def mypy_counts() -> Counter[str]:
    """mypy --strict's explicit-Any errors per module (the project's mypy configuration)."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--disallow-any-explicit", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found: Counter[str] = Counter()
    for line in done.stdout.splitlines():
        hit = re.match(r"src/(django_slack_rules/[^:]+\.py):\d+: error: Explicit \"Any\"", line)
        if hit:
            found[hit.group(1)] += 1
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mypy", action="store_true", help="also count as mypy --strict does")
    parser.add_argument(
        "--max", type=int, default=None, metavar="N", help="exit 1 when there are more than N uses"
    )
    args = parser.parse_args(argv)
    uses: Counter[str] = Counter()
    for path in sorted(SOURCE.rglob("*.py")):
        if "migrations" not in path.parts:
            uses[path.relative_to(SOURCE.parent).as_posix()] = count(path.read_text("utf-8"))
    reported = mypy_counts() if args.mypy else Counter()
    modules = sorted(
        {m for m, n in uses.items() if n} | set(reported),
        key=lambda m: (-uses[m], -reported[m], m),
    )
    print(
        f"typing.Any under src/: {sum(uses.values())} uses in {sum(1 for n in uses.values() if n)} modules"
    )
    if args.mypy:
        print(
            f"mypy --strict --disallow-any-explicit: {sum(reported.values())} in {len(reported)} modules"
        )
    print(f"{'uses':>5}  {'mypy' if args.mypy else '':>4}  module")
    for module in modules:
        print(f"{uses[module]:>5}  {reported[module] if args.mypy else '':>4}  {module}")
    total = sum(uses.values())
    if args.max is not None and total > args.max:
        print(f"{total} uses of typing.Any: more than the ceiling of {args.max}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
