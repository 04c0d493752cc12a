"""What a recorded result needs to say about where it came from: the commit and whether the
sources had uncommitted changes, and the machine (shared by the scripts that record results)."""

import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(*args):
    """``git``'s output in the repository, or None where git or the repository is missing."""
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def commit_and_dirty(*paths):
    """(HEAD's commit, whether ``paths`` have uncommitted changes)."""
    return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--", *paths))


def cpu_model():
    """The CPU's model name, family and model, and its widest vector extension (from
    /proc/cpuinfo on Linux): what a reader needs to compare machines."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    info = {}
    for line in lines:
        if ":" in line:
            key, value = line.split(":", 1)
            info.setdefault(key.strip(), value.strip())
    flags = info.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}, {isa})")
