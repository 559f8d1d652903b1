"""scripts/layout.py finds what it is for: a file over the limit and an import cycle
between files, in a crate made for the test; comments, test modules and a module's use
of its own parent do not count; the repository as it is passes.

Run by scripts/test.sh: `python tests/scripts/layout_test.py`.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import layout  # noqa: E402


def crate(files):
    root = Path(tempfile.mkdtemp())
    for name, text in files.items():
        path = root / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def check(files):
    return layout.problems_in(crate(files), ["src"])


def main():
    clean = {
        "lib.rs": "mod a;\nmod b;\n",
        "a.rs": "use crate::b::Thing;\n// see [`crate::b`] and super::a\n",
        "b/mod.rs": "mod c;\npub struct Thing;\n",
        # A child reading its parent's names is how a module is shared.
        "b/c.rs": "use super::Thing;\n#[cfg(test)]\nmod tests { use crate::a; }\n",
    }
    assert check(clean) == [], check(clean)

    cycle = dict(clean, **{"b/mod.rs": "mod c;\npub struct Thing;\nuse crate::a::x;\n"})
    found = check(cycle)
    assert len(found) == 1 and found[0].startswith("import cycle:"), found
    assert "src/a.rs" in found[0] and "src/b/mod.rs" in found[0], found

    grouped = dict(clean, **{"b/c.rs": "use crate::{a::{x, y}, b::Thing};\n"})
    assert check(grouped) == [], "a child's use of its parent in a use tree is no cycle"
    grouped_cycle = dict(grouped, **{"a.rs": "use crate::{b::c::z};\n"})
    assert any("import cycle" in p for p in check(grouped_cycle)), check(grouped_cycle)

    long = dict(clean, **{"a.rs": "fn f() {}\n" * (layout.LIMIT + 1)})
    found = check(long)
    assert found == [f"src/a.rs: {layout.LIMIT + 1} lines, over {layout.LIMIT}"], found
    tested = dict(clean, **{"a.rs": "fn f() {}\n#[cfg(test)]\nmod tests {\n" + "\n" * 600 + "}\n"})
    assert check(tested) == [], "a test module does not count"

    assert layout.problems_in(layout.ROOT, layout.CRATES) == [], "the repository itself"
    print("layout checks: each goal caught, the repository clean")


if __name__ == "__main__":
    main()
