#!/usr/bin/env python3
"""Write the `componentize-py` wheel: a Python wheel that puts one binary on PATH.

    write_wheel.py BINARY VERSION LICENCE_DIR EPOCH OUT_DIR

BINARY is the (stripped) compiler, which the wheel installs as the script
`componentize-py`; the distribution's name, summary, licence and Python
requirement come from the `[project]` table of pyproject.toml (read from the
current directory); the texts in LICENCE_DIR go into `.dist-info/licenses/`.

The platform tag is the oldest manylinux (PEP 600) whose glibc the binary
can use: the highest `GLIBC_2.N` symbol version it needs, read with
`objdump -T`. The binary may link only the libraries manylinux allows.

Reproducible: entries in a fixed order, every time stamp EPOCH (seconds, as
in SOURCE_DATE_EPOCH; at least 1980-01-01, the zip format's origin), fixed
permissions. Prints the wheel's path.
"""

import base64
import hashlib
import platform
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

# PEP 600: the libraries a manylinux wheel may link against, system ones.
MANYLINUX_LIBRARIES = {
    "libgcc_s.so.1", "libstdc++.so.6", "libm.so.6", "libdl.so.2", "librt.so.1",
    "libc.so.6", "libnsl.so.1", "libutil.so.1", "libpthread.so.0",
    "libresolv.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}


def objdump(binary: Path, flag: str) -> str:
    return subprocess.run(["objdump", flag, str(binary)], check=True,
                          capture_output=True, text=True).stdout


def platform_tag(binary: Path) -> str:
    """`manylinux_2_N_<arch>` for the highest glibc symbol version BINARY uses."""
    needed = re.findall(r"^\s*NEEDED\s+(\S+)$", objdump(binary, "-p"), re.M)
    foreign = sorted(set(needed) - MANYLINUX_LIBRARIES)
    if foreign:
        sys.exit(f"write_wheel: {binary} links libraries manylinux does not allow: {', '.join(foreign)}")
    versions = [int(m) for m in re.findall(r"\bGLIBC_2\.(\d+)\b", objdump(binary, "-T"))]
    if not versions:
        sys.exit(f"write_wheel: {binary} uses no versioned glibc symbol: is it a glibc binary?")
    return f"manylinux_2_{max(versions)}_{platform.machine()}"


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def main() -> None:
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    binary, version, licence_dir, epoch, out_dir = sys.argv[1:]
    binary, licence_dir, out_dir = Path(binary), Path(licence_dir), Path(out_dir)
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    dist = project["name"].replace("-", "_")
    tag = f"py3-none-{platform_tag(binary)}"
    info = f"{dist}-{version}.dist-info"
    licences = sorted(p for p in licence_dir.iterdir() if p.is_file())

    metadata = "".join([
        "Metadata-Version: 2.4\n",
        f"Name: {project['name']}\n",
        f"Version: {version}\n",
        f"Summary: {project['description']}\n",
        f"License-Expression: {project['license']}\n",
        *(f"License-File: {p.name}\n" for p in licences),
        f"Requires-Python: {project['requires-python']}\n",
    ])
    wheel = f"Wheel-Version: 1.0\nGenerator: componentize-py scripts/lib/write_wheel.py\nRoot-Is-Purelib: false\nTag: {tag}\n"
    # (name, bytes, executable): the script first, RECORD last, as pip expects.
    entries = [(f"{dist}-{version}.data/scripts/componentize-py", binary.read_bytes(), True)]
    entries += [(f"{info}/licenses/{p.name}", p.read_bytes(), False) for p in licences]
    entries += [(f"{info}/METADATA", metadata.encode(), False), (f"{info}/WHEEL", wheel.encode(), False)]
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data, _ in entries)
    entries.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode(), False))

    stamp = time.gmtime(max(int(epoch), 315532800))[:6]
    out = out_dir / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data, executable in entries:
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # Unix, so that the mode below is read
            entry.external_attr = (0o100755 if executable else 0o100644) << 16
            z.writestr(entry, data)
    print(out)


if __name__ == "__main__":
    main()
