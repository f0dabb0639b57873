#!/usr/bin/env python3
"""Write the licence texts of the Rust crates linked into componentize-py.

    third_party_licenses.py OUT_FILE

Run from the repository root. The crates are those `cargo tree` lists as
normal (not build, dev or proc-macro) dependencies of the `componentize-py`
package for the host target; their licence files (LICENSE*, LICENCE*,
COPYING*, COPYRIGHT*, NOTICE*, UNLICENSE at the top of each crate as Cargo
downloaded it) are read from the cargo home, offline. Identical texts are
written once, after the list of the crates that carry them. A crate without
any such file is listed with its licence expression only. Deterministic:
crates and texts in name order.
"""

import json
import subprocess
import sys
from pathlib import Path

PREFIXES = ("license", "licence", "copying", "copyright", "notice", "unlicense")


def host() -> str:
    out = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("host: "))


def main() -> None:
    out_file = Path(sys.argv[1])
    target = host()
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "--offline", "-p", "componentize-py", "--target", target,
         "-e", "normal,no-proc-macro", "--prefix", "none", "--format", "{p}"],
        check=True, capture_output=True, text=True,
    ).stdout
    linked = set()
    for line in tree.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            linked.add((parts[0], parts[1][1:]))
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline",
         "--filter-platform", target],
        check=True, capture_output=True, text=True,
    ).stdout)
    packages = {(p["name"], p["version"]): p for p in metadata["packages"]}
    texts: dict[str, list[str]] = {}
    without: list[str] = []
    listing: list[str] = []
    for key in sorted(linked):
        name, version = key
        if name == "componentize-py":
            continue
        package = packages[key]
        expression = package.get("license") or "(no licence expression)"
        listing.append(f"{name} {version}: {expression}")
        crate_dir = Path(package["manifest_path"]).parent
        files = sorted(
            f for f in crate_dir.iterdir()
            if f.is_file() and f.name.lower().startswith(PREFIXES)
        )
        if not files:
            without.append(f"{name} {version}: {expression}")
        for f in files:
            text = f.read_text(encoding="utf-8", errors="replace").strip() + "\n"
            texts.setdefault(text, []).append(f"{name} {version} ({f.name})")
    with out_file.open("w", encoding="utf-8") as out:
        out.write("Rust crates linked into componentize-py, with their licence expressions\n")
        out.write(f"(cargo tree for {target}, normal dependencies)\n\n")
        out.write("\n".join(listing) + "\n")
        if without:
            out.write("\nCrates whose package carries no licence file (expression above only):\n")
            out.write("\n".join(without) + "\n")
        for text, carriers in sorted(texts.items(), key=lambda item: item[1][0]):
            out.write("\n" + "=" * 78 + "\n")
            out.write("Carried by: " + ", ".join(carriers) + "\n")
            out.write("=" * 78 + "\n\n")
            out.write(text)
    print(f"{out_file}: {len(listing)} crates, {len(texts)} distinct licence texts, "
          f"{len(without)} crates without a licence file", file=sys.stderr)


if __name__ == "__main__":
    main()
