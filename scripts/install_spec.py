"""Each chapter's setup cell: the d2l_lite it installs in Colab and the repository files it
reads, each pinned to a commit of main; and a way to update them.

    python -m scripts.install_spec          # print the spec the chapters should hold
    python -m scripts.install_spec --write  # rewrite every chapter's setup cell (.md, .ipynb)
                                            # and README's Colab table

The spec names the repository (``repository.url`` in ``_config.yml``) at a commit: the last
commit that changed ``d2l_lite/`` or ``pyproject.toml``. A file a chapter reads (results,
weights) is pinned to the last commit that changed it, with its SHA-256; the chapter reads it
through ``d2l_lite.repository``, which takes the checkout's file in a checkout and
fetches the pinned one anywhere else (Colab). Commits of main are in every clone of main (a
tag would have to be pushed on its own). ``tests/test_book.py`` checks that the pins name the
tree's package and files at commits of main, so the chapters can never name code or results
that a reader cannot get, or others than the ones their outputs came from.

``SETUP`` is the setup cell's one source: ``--write`` renders it into every chapter with the
chapter's pins; to pin a new file, add its path to the chapter's pins with empty values,
``"book/_new.json": ("", ""),``, commit the file, then run ``--write``. The pins are kept out of
the chapters' provenance hash (``without_pin``): re-pinning does not force re-executing them.
"""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
PACKAGED = ("d2l_lite", "pyproject.toml")  # what a pip install from git builds the package from
PIN_LINE = re.compile(r'^D2L_LITE = "(?P<spec>[^"\n]*)"$', re.M)
SPEC = re.compile(r"^d2l_lite @ git\+(?P<url>\S+)@(?P<ref>[0-9a-f]{40})$")
FILES_LINE = re.compile(r'^repository = Repository\("(?P<url>[^"\n]*)", \{$', re.M)
FILE_PIN = re.compile(r'^    "(?P<path>[^"\n]+)": \("(?P<commit>[0-9a-f]{40}|)", '
                      r'"(?P<sha256>[0-9a-f]{64}|)"\),$', re.M)
FIRST_LINE = "# Setup: in Colab, install d2l_lite"
SETUP = '''\
# Setup: in Colab, install d2l_lite at the commit these outputs were computed with.
import importlib.util
import subprocess
import sys
import tempfile

D2L_LITE = "{spec}"
if importlib.util.find_spec("d2l_lite") is None:
    if "google.colab" not in sys.modules:
        raise SystemExit("d2l_lite is not installed in this kernel: run `bash scripts/setup.sh` "
                         "in the book's repository and use its .venv's kernel.")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", D2L_LITE],
                         capture_output=True, text=True)
    if pip.returncode != 0:  # a repository out of reach, or a commit it lacks?
        url, ref = D2L_LITE.split("git+")[1].rsplit("@", 1)

        def git(*args):
            try:
                return subprocess.run(["git", *args], capture_output=True).returncode == 0
            except OSError:  # no git: pip's own message says so
                return None

        with tempfile.TemporaryDirectory() as clone:
            reached = git("ls-remote", url, "HEAD")
            has_ref = reached and git("init", "-q", clone) and git(
                "-C", clone, "fetch", "-q", "--depth=1", url, ref)
        raise RuntimeError(
            f"pip could not install {{D2L_LITE}}:\\n{{pip.stderr.strip()[-2000:]}}\\n" + (
                f"{{url}} cannot be reached (no network, or no public repository there): check "
                "that this runtime is connected to the internet, then run this cell again."
                if reached is False else
                f"{{url}} did not give commit {{ref}}: most likely it lacks it, and this notebook "
                "is not the one of the repository's main branch (a fork, or an unmerged "
                "change?): open the chapter from main. On a flaky network, run this cell again."
                if reached and has_ref is False else "pip's message above says why."))
    importlib.invalidate_caches()
'''
SETUP_FILES = '''
# The repository's files this chapter reads: the checkout's in a checkout, else fetched at
# the commit of main pinned here and checked against its SHA-256.
from d2l_lite.repository import Repository

repository = Repository("{url}", {{
{pins}}})
'''


def git(*args):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


def repository_url():
    return yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]


def files_url():
    """Where the repository's files are served, as ``<files_url>/<commit>/<path>``."""
    return repository_url().replace("https://github.com/", "https://raw.githubusercontent.com/")


def packaged_commit():
    """The last commit that changed what the package is built from."""
    return git("log", "-1", "--format=%H", "--", *PACKAGED)


def spec(commit=None):
    return f"d2l_lite @ git+{repository_url()}@{commit or packaged_commit()}"


def chapters_with_setup():
    return [p for p in sorted(BOOK.glob("*.md")) if PIN_LINE.search(p.read_text())]


def pinned_specs():
    """Chapter name -> the spec its setup cell installs."""
    return {p.stem: PIN_LINE.search(p.read_text())["spec"] for p in chapters_with_setup()}


def pinned_files(text):
    """The pins of a chapter's text: repository path -> (commit, sha256)."""
    return {m["path"]: (m["commit"], m["sha256"]) for m in FILE_PIN.finditer(text)}


def pinned_url(text):
    """The URL the chapter fetches its files from, or None where it reads none."""
    match = FILES_LINE.search(text)
    return match and match["url"]


def file_pin(path):
    """(the last commit that changed ``path``, its SHA-256 at that commit)."""
    commit = git("log", "-1", "--format=%H", "--", path)
    if not commit:
        raise SystemExit(f"{path} is in no commit: commit it, then run this again")
    body = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True,
                          check=True).stdout
    return commit, hashlib.sha256(body).hexdigest()


def setup_cell(d2l_lite_spec, files=None, url=None):
    """The setup cell's source: ``files`` maps each path the chapter reads to its pin."""
    cell = SETUP.format(spec=d2l_lite_spec)
    if files:
        pins = "".join(f'    "{p}": ("{c}", "{h}"),\n' for p, (c, h) in sorted(files.items()))
        cell += SETUP_FILES.format(url=url or files_url(), pins=pins)
    return cell.rstrip("\n")


def without_pin(text):
    """``text`` with the setup cell's pins blanked (the spec, the files' commits and hashes,
    the URL they are fetched from): what the provenance hash reads."""
    text = PIN_LINE.sub('D2L_LITE = ""', text)
    text = FILES_LINE.sub('repository = Repository("", {', text)
    return FILE_PIN.sub(lambda m: f'    "{m["path"]}": ("", ""),', text)


def replace_setup(source, cell):
    """``source`` (a chapter's .md, or a cell's source) with its setup cell's code replaced by
    ``cell``: from FIRST_LINE to the end of the cell."""
    start = source.index(FIRST_LINE)
    end = source.find("\n```", start)
    return source[:start] + cell + (source[end:] if end >= 0 else "")


def chapter_title(md):
    return next(line[2:].strip() for line in md.read_text().splitlines()
                if line.startswith("# "))


def tree_bytes(commit):
    """The bytes of every file of the repository at ``commit``: what installing d2l_lite
    from git at that commit checks out."""
    listing = git("ls-tree", "-r", "-l", commit).splitlines()
    return sum(int(line.split()[3]) for line in listing if line.split()[3].isdigit())


def size(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def colab_table():
    """README's table of the chapters in Colab: what each downloads, and how long it took to
    execute where it was last executed (book/_execution.json)."""
    import json

    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    order = [Path(c["file"]).stem for c in toc["chapters"] if c["file"].endswith(".ipynb")]
    runs = json.loads((BOOK / "_execution.json").read_text())["notebooks"]
    repo = repository_url().removeprefix("https://github.com/")
    rows = ["| Chapter | Colab | Downloads | Executed in |", "| --- | --- | --- | --- |"]
    for name in order:
        md = BOOK / f"{name}.md"
        text = md.read_text()
        ref = SPEC.match(PIN_LINE.search(text)["spec"])["ref"]
        parts = [f"d2l_lite (the repository, {size(tree_bytes(ref))})"]
        if re.search(r"MTFraEng\w*\(", text):
            parts.append("the corpus (3.4 MB)")
        parts += [f"`{Path(p).name}` ({size((REPO / p).stat().st_size)})"
                  for p in sorted(pinned_files(text))]
        link = f"https://colab.research.google.com/github/{repo}/blob/main/book/{name}.ipynb"
        seconds = runs[name]["seconds"]
        took = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
        rows.append(f"| {chapter_title(md)} | [open]({link}) | {' + '.join(parts)} | {took} |")
    return "\n".join(rows)


def write_readme_table():
    readme = REPO / "README.md"
    text = readme.read_text()
    start, end = "<!-- colab:start -->\n", "\n<!-- colab:end -->"
    i, j = text.index(start) + len(start), text.index(end)
    readme.write_text(text[:i] + colab_table() + text[j:])


def write(new_spec):
    """Render the setup cell with ``new_spec`` and fresh file pins into every chapter, in the
    .md and in its .ipynb (whose outputs stay as they are: the cell prints nothing)."""
    for md in chapters_with_setup():
        text = md.read_text()
        dirty = pinned_files(text) and git("status", "--porcelain", "--", *pinned_files(text))
        if dirty:
            sys.exit(f"files {md.name} reads have uncommitted changes:\n{dirty}\ncommit them "
                     f"first, so that the chapter can pin the commit that holds them")
        cell = setup_cell(new_spec, {p: file_pin(p) for p in pinned_files(text)})
        md.write_text(replace_setup(text, cell))
        ipynb = md.with_suffix(".ipynb")
        if ipynb.exists():
            nb = nbformat.read(ipynb, as_version=4)
            for c in nb.cells:
                if c.cell_type == "code" and c.source.startswith(FIRST_LINE):
                    c.source = cell
            ipynb.write_text(nbformat.writes(nb) + "\n")  # as jupytext writes it
        print(f"{md.relative_to(REPO)}: {new_spec}; files: {sorted(pinned_files(cell))}")


def main():
    if sys.argv[1:] == ["--write"]:
        if git("status", "--porcelain", "--", *PACKAGED):
            sys.exit(f"{' and '.join(PACKAGED)} have uncommitted changes: commit them first, so "
                     f"that the chapters can name the commit that holds them")
        write(spec())
        write_readme_table()
        print("README.md: the Colab table")
    elif sys.argv[1:]:
        sys.exit(__doc__)
    else:
        print(spec())


if __name__ == "__main__":
    main()
