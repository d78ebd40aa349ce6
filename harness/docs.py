"""README sections generated from the code: the knob table, the order of events, the witness matrix.

``python -m harness docs`` rewrites them in README.md; tests fail when they drift
(the witness matrix is checked in each engine's own environment, where its
declarations can be imported).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from harness.contract import EXIT_PRECEDENCE, knob_table_markdown
from harness.errors import InputError

__all__ = ["README", "section", "replace_section", "witness_markdown", "update_readme"]

README = Path(__file__).resolve().parent.parent / "README.md"


def section(text: str, marker: str, path: Path = README) -> str:
    begin, end = f"<!-- {marker}:begin -->\n", f"\n<!-- {marker}:end -->"
    if begin not in text or end not in text:
        raise InputError(path, marker, "the generated section's markers are missing",
                         f"restore the lines <!-- {marker}:begin --> and <!-- {marker}:end -->")
    return text.split(begin, 1)[1].split(end, 1)[0]


def replace_section(text: str, marker: str, body: str, path: Path = README) -> str:
    old = section(text, marker, path)
    begin = f"<!-- {marker}:begin -->\n"
    return text.replace(begin + old + "\n", begin + body + "\n", 1)


def witness_markdown(engines: Mapping[str, Mapping[str, Any]]) -> str:
    """The witness matrix from engines' declarations: ``{name: {"modes": [...], "witness": {mode: {field: [level, note]}}}}``."""
    from harness.report import witness_matrix

    columns, rows = witness_matrix(dict(engines))
    lines = ["| knob | " + " | ".join(columns) + " | witnessed |", "|---|" + "---|" * (len(columns) + 1)]
    for key, cells, ok in rows:
        lines.append(f"| `{key}` | " + " | ".join(cells) + f" | {'yes' if ok else '**no**'} |")
    return "\n".join(lines)


def update_readme(runs_root: Path, path: Path = README) -> list[str]:
    """Rewrite every generated section; the witness matrix from the engines' last runs (run.json)."""
    text = path.read_text(encoding="utf-8")
    new = replace_section(text, "knobs", knob_table_markdown(), path)
    new = replace_section(new, "precedence", EXIT_PRECEDENCE.rstrip("\n"), path)
    engines = {}
    for run_json in sorted(runs_root.glob("*/run.json")):
        meta = json.loads(run_json.read_text(encoding="utf-8"))
        if meta.get("witness"):
            engines[meta["engine"]] = meta
    from harness.registry import engine_entries

    order = list(engine_entries())
    engines = {name: engines[name] for name in order if name in engines}
    if engines:
        new = replace_section(new, "witness", witness_markdown(engines), path)
    changed = ["README.md"] if new != text else []
    if changed:
        path.write_text(new, encoding="utf-8", newline="\n")
    return changed
