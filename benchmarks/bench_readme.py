"""The times the README promises, measured: the main job and the test command.

Runs, each in a fresh process from the repository root, exactly what the README tells a
new user to run after installing: ``skralif run`` (the main job on the bundled digits,
its defaults, ``--quiet``) and ``python -m pytest -q -m "not slow"``. Prints the wall
times and writes them to RESULTS.md; the README quotes them (issue 26, item 4). Also
times ``skralif --version``, which imports no heavy dependency.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import markdown_table, write_section

ROOT = Path(__file__).resolve().parents[1]


def timed(argv, **kwargs):
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-tests", action="store_true", help="time the main job only")
    args = parser.parse_args()
    skralif = str(Path(sys.executable).with_name("skralif"))
    rows = []
    seconds, _ = timed([skralif, "--version"])
    rows.append(["`skralif --version`", f"{seconds:.2f} s"])
    with tempfile.TemporaryDirectory() as out:
        seconds, stdout = timed([skralif, "run", "--quiet", "--output", out])
    rows.append(["`skralif run` (digits, defaults)", f"{seconds:.0f} s"])
    print(stdout, flush=True)
    if not args.skip_tests:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        seconds, stdout = timed([sys.executable, "-m", "pytest", "-q", "-m", "not slow",
                                 "-p", "no:cacheprovider"], env=env)
        rows.append(['`python -m pytest -q -m "not slow"`', f"{seconds:.0f} s ("
                     + stdout.strip().splitlines()[-1].strip("= ") + ")"])
    write_section("bench_readme", "Wall time of each command in a fresh process, nothing else "
                  "running (torch's default threads).\n\n"
                  + markdown_table(["command", "wall time"], rows))


if __name__ == "__main__":
    main()
