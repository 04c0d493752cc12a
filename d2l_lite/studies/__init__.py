"""The studies: the experiments whose results the chapters read, too long to run in a
chapter, and the runner they share.

* ``larger_scale``, ``attention_at_work``, ``reversal``: one study each, run as
  ``python -m d2l_lite.studies.<name>``; its settings are at the top of its module.
* ``split``, ``long_sentences``, ``synthetic``, ``batching``: their data sets;
  ``bahdanau``: the paper's bidirectional encoder, and uniform attention for ablations.
* this module: a resumable results file that never mixes settings or code versions, never
  overwrites what it does not own, and records where every run came from.

A study writes one JSON file: its settings, their key, its code (the module and every
``d2l_lite`` module it imported), one entry per session that added runs (commit, any
uncommitted changes, machine, wall time) and one per run. A full study starts only from
committed code, so that its results file names the commit that made it. A rerun with the
same settings and code skips the runs the file holds, so an interrupted study resumes, and one
with nothing left to run leaves the file as it was; whether the code is the same is
``provenance.computed_by``'s rule, which the test suite applies to the committed files.
Other settings or code are refused unless ``--restart`` is given, which keeps the old file
beside the new one (``<name>.previous.json``). The full study writes ``book/_<name>.json``,
which its chapter reads, and keeps the trained weights out of git, under ``models/<name>/``;
a smoke run (``--smoke``, the same code on a tiny configuration) writes under
``_build/smoke/`` or outside the checkout, never elsewhere in it, where the committed results
are.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from d2l_lite.provenance import (
    REPO,
    checkout_lock,
    code_changes,
    commit_and_dirty,
    computed_by,
    imported_package_files,
    snapshot,
)
from d2l_lite.provenance import machine as machine_record


def parse_args(name, description):
    """The command line every study takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true",
                        help=f"a tiny configuration of the same code (CI), written to "
                             f"_build/smoke/{name}.json")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"the results file (default: book/_{name}.json, or the smoke one)")
    parser.add_argument("--restart", action="store_true",
                        help="start over when the results file holds other settings or code "
                             "(the old file is kept as <name>.previous.json)")
    args = parser.parse_args()
    smoke = REPO / "_build" / "smoke"
    if args.out is None:
        args.out = smoke / f"{name}.json" if args.smoke else REPO / "book" / f"_{name}.json"
    out = args.out.resolve()
    if args.smoke and REPO in out.parents and smoke not in out.parents:
        sys.exit(f"a smoke run never writes {out.relative_to(REPO)}: in this checkout it "
                 f"writes only under _build/smoke/, away from the committed results; leave "
                 f"out --out, or name a file under _build/smoke/ or outside the checkout")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        sys.exit(f"cannot make the folder of {args.out} ({e.strerror}): choose another --out")
    if not os.access(args.out.parent, os.W_OK):
        sys.exit(f"cannot write to {args.out.parent}: choose another --out")
    return args


def code_files(script):
    """The study's code: the script and the d2l_lite modules the process has imported
    (repository-relative paths). What keeps the results file (this module, provenance) is
    listed too, and left out when code is compared: it computes none of the results."""
    return sorted({Path(script).resolve().relative_to(REPO).as_posix()}
                  | set(imported_package_files()))


class Results:
    """The results file of one study: ``runs`` done so far, saved atomically after each.

    ``done(key)`` says whether a run is in the file; ``add(run)`` appends one and saves it,
    after checking that the code did not change since the study started. This session is
    recorded with the first run it adds: a session that adds none leaves the file as it
    was."""

    def __init__(self, path, settings, script, restart=False, models=None, smoke=False):
        self.path = Path(path)
        self.models = Path(models) if models else self.path.parent / "models"
        self.files = code_files(script)
        self.code = snapshot(self.files)
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        fresh = dict(settings_key=key, settings=settings, code_files=self.files, runs=[],
                     sessions=[])
        commit, dirty = commit_and_dirty("d2l_lite")
        if dirty and not smoke:
            sys.exit("d2l_lite has uncommitted changes: commit them first, so that the results "
                     "file names the commit of the code that made it (a smoke run may use "
                     "uncommitted code)")
        self.session = dict(started=_now(), commit=commit, dirty=dirty, **machine_record())
        self.data = self._load(fresh, restart)
        self.data["sessions"].append(self.session)
        self.saved = False  # whether this session wrote the file
        self._start = time.perf_counter()

    def _load(self, fresh, restart):
        if not self.path.exists():
            return fresh
        try:
            old = json.loads(self.path.read_text())
        except json.JSONDecodeError as e:
            if not restart:
                sys.exit(f"{self.path} is not valid JSON ({e}): move it away, or pass "
                         f"--restart to start over (the old file is kept)")
            old = None
        if old is not None:
            differs = [what for what, same in (
                ("settings_key", old.get("settings_key") == fresh["settings_key"]),
                ("code", self._same_code(old))) if not same]
            if not differs:
                return old
            if not restart:
                what = " and ".join({"settings_key": "other settings",
                                     "code": "runs of other code"}[d] for d in differs)
                sys.exit(f"{self.path} holds {what} than this run's: pass --restart to start "
                         f"over (the old file is kept as {self._previous().name}), or --out "
                         f"to write elsewhere")
        os.replace(self.path, self._previous())
        print(f"starting over: the old results are in {self._previous()}", flush=True)
        return fresh

    def _same_code(self, old):
        try:
            return computed_by(old, now=self.files)
        except (KeyError, TypeError, AttributeError, IndexError):  # not a study's results file
            return False

    def _previous(self):
        return self.path.with_name(self.path.stem + ".previous" + self.path.suffix)

    @property
    def runs(self):
        return self.data["runs"]

    def done(self, **key):
        return any(all(run.get(k) == v for k, v in key.items()) for run in self.runs)

    def check_code(self):
        """Stop if the study's code changed on disk since it started: the runs so far are
        kept, under the code that made them."""
        if code_changes(self.code):
            sys.exit(f"the study's code ({', '.join(self.files)}) changed while it ran: the "
                     f"runs so far are saved in {self.path}; restore the code to resume, or "
                     f"pass --restart")

    def add(self, run):
        self.check_code()
        run["session"] = len(self.data["sessions"]) - 1
        self.runs.append(run)
        self.save()

    def save(self):
        self.saved = True
        self.session["seconds"] = time.perf_counter() - self._start
        tmp = self.path.with_name(self.path.name + ".part")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        os.replace(tmp, self.path)


def run_study(name, description, settings_fn, run_all):
    """Parse the command line, take the checkout's lock, open the results file and call
    ``run_all(results, settings, smoke)``; the study's imports must be done before."""
    args = parse_args(name, description)
    settings = settings_fn(args.smoke)
    with checkout_lock():
        models = (REPO / "models" / name if args.out == REPO / "book" / f"_{name}.json"
                  else args.out.parent / "models" / name)
        results = Results(args.out, settings, sys.argv[0], args.restart, models, args.smoke)
        run_all(results, settings, args.smoke)
        if not results.saved:
            print(f"nothing to run: {args.out} holds every run of these settings and code, "
                  f"and is left as it was")
            return
        results.check_code()
        results.save()
    print(f"done in {results.session['seconds']:.0f} s -> {args.out}")


def shown(path):
    """``path`` relative to the repository when it is inside it (as results files keep it)."""
    path = Path(path).resolve()
    return path.relative_to(REPO).as_posix() if REPO in path.parents else str(path)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
