#!/usr/bin/env python3
"""Lists circles of files inside each crate, read from the code's own `use` paths.

An edge A -> B means file A names an item through a path that resolves to file B (`crate::x::y`,
`super::x`, `self::x`); `mod x;` declarations are not edges. Prints every strongly connected set of
more than one file; exits 1 if there is one (SeaORM's entity pair is allowed).
Usage: scripts/file-cycles.py [crate-src-dir ...]  (default: every crate's src/)
"""
import os
import re
import sys

ALLOWED = [{"entities/document.rs", "entities/document_update.rs"}]


def module_files(src):
    """Maps module paths (tuples) to files, for one crate's src dir."""
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            files[tuple(parts)] = rel
    return files


def module_of(rel):
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def resolve(files, path):
    """The file of the longest module prefix of `path`."""
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in files:
            return files[tuple(path[:n])]
    return None


USE = re.compile(r"\b(?:use|pub\s*(?:\([^)]*\))?\s*use)\s+([^;]+);", re.S)
PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")


def expand(tree):
    """Paths in one use tree, `a::{b, c::d}` -> a::b, a::c::d (roughly: enough for modules)."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, t):
        m = re.match(r"^([\w:]*?)(?:::)?\{(.*)\}$", t)
        if not m:
            out.append(prefix + t)
            return
        head, inner = m.group(1), m.group(2)
        depth, start = 0, 0
        for i, ch in enumerate(inner + ","):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                part = inner[start:i]
                if part:
                    walk(prefix + head + ("::" if head else ""), part)
                start = i + 1

    walk("", tree)
    return out


def edges(src):
    files = module_files(src)
    graph = {rel: set() for rel in files.values()}
    for rel in files.values():
        text = open(os.path.join(src, rel)).read()
        text = re.sub(r"//[^\n]*", "", text)
        # Unit tests (from `#[cfg(test)]` on) are not the file's dependencies.
        text = text.split("#[cfg(test)]")[0]
        here = module_of(rel)
        is_mod = os.path.basename(rel) in ("mod.rs", "lib.rs", "main.rs")
        targets = []
        for tree in USE.findall(text):
            targets += expand(tree)
        targets += [m.group(1) + m.group(2) for m in PATH.finditer(text)]
        # Bare paths to child modules outside `use` (`socket::Connection::new(..)`).
        targets += [m.group(1) + m.group(2) for m in re.finditer(r"\b(\w+)((?:::\w+)+)", text)]
        for target in targets:
            parts = target.split("::")
            if parts[0] not in ("crate", "super", "self") and is_mod:
                # A path relative to this module: `use child::Item` from a mod.rs.
                if tuple(here) + (parts[0],) in files:
                    parts = ["self"] + parts
            if parts[0] == "crate":
                path = parts[1:]
            elif parts[0] in ("super", "self"):
                base = list(here)
                if not is_mod and parts[0] == "super":
                    base = base[:-1]
                elif is_mod and parts[0] == "super":
                    base = base[:-1]
                elif not is_mod and parts[0] == "self":
                    pass
                rest = parts[1:]
                while rest and rest[0] == "super":
                    base = base[:-1]
                    rest = rest[1:]
                path = base + rest
            else:
                continue
            dest = resolve(files, path)
            if dest and dest != rel:
                graph[rel].add(dest)
    return graph


def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1 and comp not in ALLOWED:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return out


def main():
    dirs = sys.argv[1:] or [
        os.path.join(d, "src")
        for d in sorted(os.listdir("."))
        if os.path.isfile(os.path.join(d, "Cargo.toml")) and os.path.isdir(os.path.join(d, "src"))
    ]
    found = False
    for src in dirs:
        for comp in cycles(edges(src)):
            found = True
            print(f"{src}: " + " <-> ".join(sorted(comp)))
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
