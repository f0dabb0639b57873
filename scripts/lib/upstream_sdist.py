"""Fetch upstream componentize-py's source distribution and unpack it.

    python3 scripts/lib/upstream_sdist.py DEST

The sdist of the reference release (0.25.1) carries upstream's examples
(`examples/`), its WIT (`wit/`) and its test apps (`src/test/`). The tests
that check that upstream apps build and run unchanged use them from there:
nothing of upstream's is kept in this repository.

The file comes from the package index pip is configured with (`PIP_INDEX_URL`,
else `pip config get global.index-url`, else pip's own default), through
the index's simple API (PEP 503), and must have the sha256 pinned below.
It is unpacked to `DEST/componentize_py-0.25.1` (atomically: into a
temporary folder first, renamed when complete), and nothing is done when
that folder exists. Prints the folder.
"""

import hashlib
import html.parser
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request

PROJECT = "componentize-py"
VERSION = "0.25.1"
FILE = f"componentize_py-{VERSION}.tar.gz"
SHA256 = "e4087e916b06171303f803c8ffdd5f177e2422e87d9bed6ffe55cc41b2248aa8"
TIMEOUT_SECONDS = 120


def pip_config(name: str) -> str:
    """A value of pip's configuration, or "" when unset."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", name],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def index_url() -> str:
    url = os.environ.get("PIP_INDEX_URL") or pip_config("global.index-url")
    if not url:
        from pip._internal.models.index import PyPI

        url = PyPI.simple_url
    return url.rstrip("/") + "/"


def ssl_context() -> ssl.SSLContext:
    cert = os.environ.get("PIP_CERT") or pip_config("global.cert")
    return ssl.create_default_context(cafile=cert or None)


class Links(html.parser.HTMLParser):
    """The `href`s of a simple-API project page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for key, value in attrs:
                if key == "href" and value:
                    self.hrefs.append(value)


def sdist_url(context: ssl.SSLContext) -> str:
    page = urllib.parse.urljoin(index_url(), PROJECT + "/")
    with urllib.request.urlopen(page, timeout=TIMEOUT_SECONDS, context=context) as response:
        links = Links()
        links.feed(response.read().decode("utf-8", "replace"))
    for href in links.hrefs:
        url = urllib.parse.urljoin(page, href)
        path = urllib.parse.urlparse(url).path
        if path.rsplit("/", 1)[-1] == FILE:
            return url.split("#", 1)[0]
    sys.exit(f"upstream_sdist.py: {page} lists no {FILE}")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python3 scripts/lib/upstream_sdist.py DEST")
    dest = os.path.abspath(sys.argv[1])
    folder = os.path.join(dest, f"componentize_py-{VERSION}")
    if not os.path.isdir(folder):
        os.makedirs(dest, exist_ok=True)
        context = ssl_context()
        url = sdist_url(context)
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS, context=context) as response:
            data = response.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256:
            sys.exit(f"upstream_sdist.py: {FILE} has sha256 {digest}, expected {SHA256}")
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            archive = os.path.join(tmp, FILE)
            with open(archive, "wb") as file:
                file.write(data)
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, filter="data")
                else:
                    tar.extractall(tmp)
            try:
                os.rename(os.path.join(tmp, f"componentize_py-{VERSION}"), folder)
            except OSError:
                # Another process unpacked it first.
                if not os.path.isdir(folder):
                    raise
    print(folder)


if __name__ == "__main__":
    main()
