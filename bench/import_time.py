"""What ``import stager.train`` (and ``import lightning``) adds on top of ``import torch``.

Every sample is a fresh interpreter that times its own imports with
``time.perf_counter`` (interpreter start-up, the same for all, is left out):

  torch                  import torch
  torch + stager.train   import torch; import stager.train
  torch + lightning      import torch; import lightning     (only when lightning is importable)

The variants are interleaved over ``--repeat`` rounds, order rotated; the report
gives medians and the added seconds (median of the per-round differences).

Bytecode: this sandbox sets PYTHONDONTWRITEBYTECODE=1, and an editable stager then
has no cached bytecode, so every import would recompile stager from source while
pip-installed packages load cached .pyc files.  By default the children run with
PYTHONPYCACHEPREFIX pointing at a cache folder outside the repository (filled by a
first, untimed round), so every package imports from cached bytecode, as on a
normal install.  ``--as-is`` keeps the environment untouched instead.

    python bench/import_time.py
    .bench-venv/bin/python bench/import_time.py      # + lightning
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile

from bench_common import stager_source_state

CHILD = r"""
import sys, time
t0 = time.perf_counter()
for name in sys.argv[1:]:
    __import__(name)
print(f"IMPORT_SECONDS {time.perf_counter() - t0:.6f}")
"""

VARIANTS = {
    "torch": ["torch"],
    "torch + stager.train": ["torch", "stager.train"],
    "torch + lightning": ["torch", "lightning"],
}




def child_env(pycache_prefix: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if pycache_prefix is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache_prefix
    return env


def time_imports(modules: list[str], env: dict[str, str]) -> float:
    proc = subprocess.run([sys.executable, "-c", CHILD, *modules], capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("IMPORT_SECONDS "):
            return float(line.split()[1])
    raise RuntimeError(f"importing {modules} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")


def importable(module: str, env: dict[str, str]) -> bool:
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, env=env, check=False)
    return proc.returncode == 0


def heaviest_added(env: dict[str, str], top: int) -> list[tuple[str, float]]:
    """Top-level packages that ``import stager.train`` loads after torch, by import time."""
    code = "import torch; import stager.train"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, check=False)
    after_torch, totals = False, {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, self_us, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if not after_torch:
            after_torch = name == "torch"  # torch's own line closes its subtree
            continue
        if self_us.isdigit():
            package = name.split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(self_us) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9, help="fresh interpreters per variant (default 9)")
    parser.add_argument("--as-is", action="store_true", help="do not redirect bytecode caching (see above)")
    args = parser.parse_args()

    prefix = None if args.as_is else os.path.join(tempfile.gettempdir(), f"stager-bench-pycache-{os.getuid()}")
    env = child_env(prefix)
    names = [n for n in VARIANTS if n != "torch + lightning" or importable("lightning", env)]

    print("import time benchmark")
    print(f"  python {platform.python_version()} ({sys.executable}), {os.cpu_count()} CPU cores, "
          f"{args.repeat} fresh interpreters per variant, interleaved, order rotated")
    print(f"  {stager_source_state()}")
    if prefix is None:
        print(f"  bytecode: environment as is (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')})")
    else:
        print(f"  bytecode: cached for every package under PYTHONPYCACHEPREFIX={prefix} (warmed by an untimed round)")
    if "torch + lightning" not in names:
        print("  lightning: NOT importable here, so not measured; run bash bench/setup_lightning_env.sh, then "
              ".bench-venv/bin/python bench/import_time.py")
    print()

    for name in names:  # untimed: fills the bytecode cache and the OS page cache
        time_imports(VARIANTS[name], env)

    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeat):
        for name in names[r % len(names):] + names[: r % len(names)]:
            samples[name].append(time_imports(VARIANTS[name], env))

    base = samples["torch"]
    print(f"  {'variant':<24}{'median':>9}{'min':>9}{'max':>9}{'added over torch':>19}")
    added: dict[str, float] = {}
    for name in names:
        s = samples[name]
        added[name] = statistics.median(x - b for x, b in zip(s, base))
        extra = "" if name == "torch" else f"{added[name]:+.3f}s"
        print(f"  {name:<24}{statistics.median(s):>8.3f}s{min(s):>8.3f}s{max(s):>8.3f}s{extra:>19}")
    print("  (added = median over rounds of the difference to the same round's torch-only import)")
    print()

    print("  heaviest packages that import stager.train loads after torch (self time in one -X importtime run,")
    print("  which inflates times: read them as proportions):")
    for package, seconds in heaviest_added(env, 6):
        print(f"    {package:<20}{seconds * 1000:>7.1f} ms")
    print()

    target = added["torch + stager.train"]
    print(f"target: import stager.train adds <= 0.25 s over import torch: {target:+.3f}s -> {'MET' if target <= 0.25 else 'NOT MET'}")


if __name__ == "__main__":
    main()
