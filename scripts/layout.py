#!/usr/bin/env python3
"""Checks the source layout's goals: no source file over 500 lines (its test module left
out), and no import cycle between files.

    python scripts/layout.py          # prints every file over the limit and every cycle;
                                      # exits 1 if there is any

A file's imports are the `use` paths and the inline `crate::`/`super::`/`self::` paths of
its code outside `#[cfg(test)]` and comments, each resolved to the file of the deepest module it names.
A module using its own ancestors (a file and the `mod.rs` or `lib.rs` that declares it) is
not counted: that is how a parent's names are shared.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["shared/src", "functions/src", "admin/src"]
LIMIT = 500


def code_of(path):
    """The file's code before its test module, comments left out (a doc link names a
    module without importing it)."""
    text = path.read_text()
    cut = text.find("#[cfg(test)]")
    code = text if cut < 0 else text[:cut]
    return re.sub(r"//[^\n]*", "", code)


def module_of(src, path):
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def expand(tree):
    """`a::{b, c::{d, e}}` as ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = tree[:start], tree[start + 1 : i]
                parts, level, last = [], 0, 0
                for j, c in enumerate(inner):
                    level += c == "{"
                    level -= c == "}"
                    if c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                return [p for part in parts if part for p in expand(prefix + part)]
    return [tree]


def references(code):
    paths = []
    for statement in re.findall(r"\buse\s+([^;]+);", code):
        paths.extend(expand(statement))
    paths.extend(re.findall(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)", code))
    return paths


def resolve(module, path, modules):
    """The module a path names: the deepest existing module among its prefixes."""
    parts = path.split("::")
    base = list(module)
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    elif parts[0] in ("super", "self"):
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super" and base:
                base.pop()
            parts = parts[1:]
    else:
        return None
    full = tuple(base + parts)
    for n in range(len(full), -1, -1):
        if full[:n] in modules:
            return full[:n]
    return None


def cycles(graph):
    """Tarjan's strongly connected components with more than one member."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def problems_in(root, crates):
    """Every file over the limit and every import cycle, as lines to print."""
    problems = []
    for crate in crates:
        src = root / crate
        files = {module_of(src, p): p for p in sorted(src.rglob("*.rs")) if "bin" not in p.relative_to(src).parts}
        graph = {}
        for module, path in files.items():
            code = code_of(path)
            lines = code.count("\n")
            if lines > LIMIT:
                problems.append(f"{path.relative_to(root)}: {lines} lines, over {LIMIT}")
            targets = set()
            for ref in references(code):
                target = resolve(module, ref, files)
                # Its own ancestors are how a module reads its parent's names.
                if target is not None and target != module and module[: len(target)] != target:
                    targets.add(target)
            graph[module] = targets
        for component in cycles(graph):
            names = " <-> ".join(str(files[m].relative_to(root)) for m in component)
            problems.append(f"import cycle: {names}")
    return problems


def main():
    problems = problems_in(ROOT, CRATES)
    for problem in problems:
        print(problem)
    if problems:
        print(f"layout: {len(problems)} problem(s)")
        sys.exit(1)
    print(f"layout: every file within {LIMIT} lines, no import cycle")


if __name__ == "__main__":
    main()
