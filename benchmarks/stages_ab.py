"""Two commits' stage costs side by side: each round runs benchmarks/stages.py of both at
once, one per core, so both see the same machine.

On this 2-core virtual machine the speed of a core drifts by 15-30% from one minute to the
next (a 10M-step Python loop: 0.29-0.41 s within one minute), so a difference of a few
percent between two runs made one after the other is noise. Run side by side, the two
commits' producer stages (which neither commit changed) agree to within 1-2%, which makes
a change in the writer's figure readable. Each commit is checked out into a temporary git
worktree and imported from there; the generated file is shared.

    python benchmarks/stages_ab.py --rows 100000 --runs 2 BEFORE AFTER
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stages import ROOT, generated

STAGE = re.compile(r"^\| (?P<stage>[^|]+?) \| (?P<process>\w*) \| \**(?P<us>[\d,]+)\** \|$")


def checkout(revision: str, into: Path, data: Path) -> Path:
    tree = into / revision
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", "-q",
                    str(tree), revision], check=True)
    out = tree / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / data.name).symlink_to(data)
    return tree


def start(tree: Path, rows: int) -> subprocess.Popen[str]:
    env = {"PYTHONPATH": f"{tree}:{tree / 'plugins'}", "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([sys.executable, "benchmarks/stages.py", "--rows", str(rows)],
                            cwd=tree, env=env, stdout=subprocess.PIPE, text=True)


def stages(output: str) -> dict[str, int]:
    return {m["stage"].strip("* "): int(m["us"].replace(",", ""))
            for line in output.splitlines() if (m := STAGE.match(line))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    data = generated(args.rows)
    results: dict[str, list[dict[str, int]]] = {args.before: [], args.after: []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {rev: checkout(rev, Path(tmp), data) for rev in results}
        try:
            for _ in range(args.runs):
                running = {rev: start(tree, args.rows) for rev, tree in trees.items()}
                for rev, process in running.items():
                    output, _ = process.communicate()
                    if process.returncode:
                        sys.exit(f"stages.py of {rev} failed ({process.returncode})")
                    results[rev].append(stages(output))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(tree)], check=False)
    names = list(results[args.before][0])
    print(f"# stage costs side by side, {args.rows:,} rows, SQLite — "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"command: python benchmarks/stages_ab.py --rows {args.rows} --runs {args.runs} "
          f"{args.before} {args.after}\n")
    print(f"| stage (µs per row) | {args.before} runs | {args.after} runs | median change |")
    print("|---|---|---|---:|")
    for name in names:
        a = [r[name] for r in results[args.before]]
        b = [r[name] for r in results[args.after]]
        change = statistics.median(b) / statistics.median(a) - 1
        print(f"| {name} | {' / '.join(f'{v:,}' for v in a)} | "
              f"{' / '.join(f'{v:,}' for v in b)} | {change:+.1%} |")


if __name__ == "__main__":
    main()
