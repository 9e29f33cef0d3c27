"""Per-step overhead of stager's Trainer against a hand-written PyTorch loop (and Lightning).

The same MLP, the same synthetic in-memory data, the same seed and optimizer,
batch 64, trained for ``--steps`` optimizer steps by

  raw        a hand-written PyTorch loop (the baseline);
  stager     ``stager.train.Trainer`` with its defaults (CSV logger, checkpointing,
             progress bar), the module calling ``self.log("train_loss", ...)`` every step;
  lightning  ``lightning.pytorch.Trainer`` with its defaults, the same module code
             (only when ``import lightning`` works: run from the benchmark venv made
             by ``bench/setup_lightning_env.sh``; Lightning is never a stager dependency).

All three use the same model nesting (a module whose ``forward`` calls ``self.net``)
and the same ``DataLoader(shuffle=True)`` with its own seeded generator.

Contenders are interleaved over ``--rounds`` rounds, the order rotated each round,
so drift in machine speed hits all of them alike.  Times are medians over rounds,
both wall-clock and CPU time (``time.process_time``: on a machine shared with other
work, CPU time is the steadier of the two).  ``torch.set_num_threads(1)`` throughout.
A virtual machine's host can also slow the whole machine by a third for seconds at a
time, which no interleaving of whole runs evens out, so the epochs' cycle times are
recorded too and a low percentile of them is printed as a per-epoch estimate.
Each contender also runs alone in fresh subprocesses for peak RSS (the kernel's
high-water mark, reset just before the fit) and once under tracemalloc for the peak
of Python-object allocations, so none inflates another.

Numbers are printed, never asserted: this is a benchmark, not a test.

    python bench/trainer_overhead.py                      # stager's own venv: raw + stager
    .bench-venv/bin/python bench/trainer_overhead.py      # + lightning
    .bench-venv/bin/python bench/trainer_overhead.py --stager-bare --lightning-no-bar
    .bench-venv/bin/python bench/trainer_overhead.py --profile   # where stager's time goes
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from bench_common import stager_source_state

BATCH = 64
IN_FEATURES, HIDDEN, CLASSES = 784, 128, 10
SEED = 1234

# Called by every contender at each epoch's start and once more when its last epoch
# has ended (before the trainers' teardown).  None here; bench/trainer_overhead_lockstep.py
# sets it to hold each process at those points until its turn.
epoch_gate: Callable[[], None] | None = None


# -- the shared problem ------------------------------------------------------------------


def make_data(n_samples: int, seed: int = SEED) -> TensorDataset:
    """A learnable synthetic classification set, built in memory from a private generator."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, IN_FEATURES, generator=g)
    teacher = torch.randn(IN_FEATURES, CLASSES, generator=g)
    y = (x @ teacher).argmax(dim=1)
    return TensorDataset(x, y)


def make_loader(dataset: TensorDataset, seed: int = SEED) -> DataLoader:
    # Shuffled with its own generator: every contender sees the same batches in the
    # same order whatever else touches torch's global RNG.
    return DataLoader(dataset, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed))


def make_net() -> nn.Module:
    """Call right after seeding torch's global RNG: the init comes from it."""
    return nn.Sequential(nn.Linear(IN_FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


class RawMLP(nn.Module):
    """The raw loop's model: the same nesting as the trainers' modules (``model(x)`` goes
    through one wrapper module to ``self.net``), so the comparison is of trainers only."""

    def __init__(self) -> None:
        super().__init__()
        self.net = make_net()

    def forward(self, x):
        return self.net(x)


def make_optimizer(params, name: str) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.05, momentum=0.9)
    return torch.optim.Adam(params, lr=1e-3)


def weights_of(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds.  CPU time is this process's, all threads: on a shared
    machine it is barely touched by other processes, while wall time is."""
    return time.perf_counter(), time.process_time()


def result(start: tuple[float, float], loop_start: tuple[float, float], loop_end: tuple[float, float],
           end: tuple[float, float], net: nn.Module, epoch_starts: list[float]) -> dict[str, Any]:
    """``epoch_starts``: wall-clock time at the start of each epoch; with ``loop_end``, the
    epochs' cycle times (each one's batches and its epoch-end work: checkpoint, logging)."""
    bounds = [*epoch_starts, loop_end[0]]
    return {
        "wall_total": end[0] - start[0],
        "cpu_total": end[1] - start[1],
        "wall_loop": loop_end[0] - loop_start[0],
        "cpu_loop": loop_end[1] - loop_start[1],
        "epochs": [b - a for a, b in zip(bounds, bounds[1:])],
        "weights": weights_of(net),
    }


# -- contenders: each returns result(): total and loop times (wall and CPU), final weights -----
# "total" runs from just before the optimizer/Trainer is made to the end of training;
# building the data, the loader and the network is outside it (the same for everyone).
# "loop" runs from the first batch to the end of the last epoch (for the trainers:
# the module's on_train_start .. on_train_end hooks, each called once).


def run_raw(dataset: TensorDataset, steps: int, opt_name: str, root: str) -> dict[str, Any]:
    torch.manual_seed(SEED)
    model = RawMLP()
    loader = make_loader(dataset)
    t0 = clocks()
    optimizer = make_optimizer(model.parameters(), opt_name)
    model.train()
    t1 = clocks()
    step = 0
    epoch_starts = []
    while step < steps:
        if epoch_gate is not None:
            epoch_gate()
        epoch_starts.append(time.perf_counter())
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step >= steps:
                break
    if epoch_gate is not None:
        epoch_gate()
    t2 = clocks()
    return result(t0, t1, t2, t2, model.net, epoch_starts)


_module_classes: dict[type, type] = {}


def _mlp_module_class(base: type) -> type:
    """The benchmark's MLP as a subclass of ``base`` (stager's Module or Lightning's):
    one body, so both trainers run exactly the same user code."""
    if base not in _module_classes:

        class MLP(base):
            def __init__(self, opt_name: str) -> None:
                super().__init__()
                self.net = make_net()
                self.opt_name = opt_name
                self.t_start = self.t_end = (0.0, 0.0)
                self.epoch_starts: list[float] = []

            def forward(self, x):
                return self.net(x)

            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = F.cross_entropy(self(x), y)
                self.log("train_loss", loss)
                return loss

            def configure_optimizers(self):
                return make_optimizer(self.parameters(), self.opt_name)

            def on_train_start(self):
                self.t_start = clocks()

            def on_train_epoch_start(self):
                if epoch_gate is not None:
                    epoch_gate()
                self.epoch_starts.append(time.perf_counter())

            def on_train_end(self):
                if epoch_gate is not None:
                    epoch_gate()
                self.t_end = clocks()

        _module_classes[base] = MLP
    return _module_classes[base]


def _stager_module_class() -> type:
    from stager.train import Module

    return _mlp_module_class(Module)


def _make_stager_runner(**trainer_kwargs: Any) -> Callable:
    def run_stager(dataset: TensorDataset, steps: int, opt_name: str, root: str) -> dict[str, Any]:
        from stager.train import Trainer, seed_everything

        seed_everything(SEED)
        model = _stager_module_class()(opt_name)
        loader = make_loader(dataset)
        t0 = clocks()
        trainer = Trainer(max_steps=steps, accelerator="cpu", devices=1, default_root_dir=root, **trainer_kwargs)
        trainer.fit(model, train_dataloaders=loader)
        t2 = clocks()
        assert trainer.global_step == steps, trainer.global_step
        out = result(t0, model.t_start, model.t_end, t2, model.net, model.epoch_starts)
        bar = trainer.progress_bar_callback
        out["info"] = (f"progress bar {'on' if bar is not None and bar.is_enabled else 'off'}, "
                       f"logger {type(trainer.logger).__name__ if trainer.logger else None}, "
                       f"checkpoints {'on' if trainer.checkpoint_callback else 'off'}")
        return out

    return run_stager


def _lightning_module_class() -> type:
    import lightning.pytorch as pl

    return _mlp_module_class(pl.LightningModule)


def _make_lightning_runner(progress_bar: bool) -> Callable:
    def run_lightning(dataset: TensorDataset, steps: int, opt_name: str, root: str) -> dict[str, Any]:
        import lightning.pytorch as pl
        from lightning.pytorch.loggers import CSVLogger

        pl.seed_everything(SEED)
        model = _lightning_module_class()(opt_name)
        loader = make_loader(dataset)
        t0 = clocks()
        # CSVLogger is Lightning's default logger when tensorboard is not installed (as in
        # .bench-venv); passed explicitly so that it stays the same as stager's default
        # even in an environment that has tensorboard.
        trainer = pl.Trainer(
            max_steps=steps,
            accelerator="cpu",
            devices=1,
            default_root_dir=root,
            logger=CSVLogger(root),
            **({} if progress_bar else {"enable_progress_bar": False}),
        )
        trainer.fit(model, train_dataloaders=loader)
        t2 = clocks()
        assert trainer.global_step == steps, trainer.global_step
        out = result(t0, model.t_start, model.t_end, t2, model.net, model.epoch_starts)
        bar = trainer.progress_bar_callback
        out["info"] = (f"progress bar {type(bar).__name__ if bar is not None else 'off'}, "
                       f"logger {type(trainer.logger).__name__}, "
                       f"checkpoints {'on' if trainer.checkpoint_callback else 'off'}")
        return out

    return run_lightning


def lightning_version() -> str | None:
    try:
        import lightning
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        return None
    return lightning.__version__


def contenders(with_lightning: bool, lightning_no_bar: bool = False, stager_bare: bool = False) -> dict[str, Callable]:
    found: dict[str, Callable] = {"raw": run_raw, "stager": _make_stager_runner()}
    if stager_bare:
        # Not a default: the loop alone, to split the default's overhead into loop vs extras.
        found["stager-bare"] = _make_stager_runner(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    if with_lightning:
        found["lightning"] = _make_lightning_runner(progress_bar=True)
        if lightning_no_bar:
            found["lightning-nobar"] = _make_lightning_runner(progress_bar=False)
    return found


# -- plumbing ----------------------------------------------------------------------------


@contextlib.contextmanager
def output_to(path: str | None):
    """Point file descriptors 1 and 2 (so sys.stdout and sys.stderr) at ``path``.

    The trainers' own output (model summaries, progress bars, epoch lines; Lightning's
    Rich console writes to stdout) goes there, so the benchmark's report stays readable.
    """
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def quiet_warnings() -> None:
    # Lightning warns once per fit that the loader has no workers; the warning text is
    # irrelevant here and the output is kept readable.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*num_workers.*")


def one_run(name: str, fn: Callable, dataset, steps: int, opt: str, output_path: str | None):
    safe = "".join(c if c.isalnum() else "-" for c in name)
    with tempfile.TemporaryDirectory(prefix=f"bench-{safe}-") as root:
        gc.collect()
        with output_to(output_path):
            return fn(dataset, steps, opt, root)


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    if a.keys() != b.keys():
        return float("nan")
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# -- the memory child: one contender, one fresh process ----------------------------------------


def memory_child(name: str, steps: int, opt: str, use_tracemalloc: bool) -> None:
    torch.set_num_threads(1)
    quiet_warnings()
    dataset = make_data(steps_to_samples(steps))
    fn = contenders(name.startswith("lightning"))[name]
    # torch imports torch._dynamo (and sympy: ~60 MiB of Python objects) lazily on the
    # first optimizer step; trigger that here so the window measures training only.
    _touch = nn.Parameter(torch.zeros(1))
    _touch.grad = torch.zeros(1)
    make_optimizer([_touch], opt).step()
    del _touch
    if name == "stager":  # import outside the measured window, as for torch
        import stager.train  # noqa: F401
    elif name.startswith("lightning"):
        import lightning.pytorch  # noqa: F401
    gc.collect()
    # The peak must be the fit's own: building the data and importing leave a higher
    # transient high-water mark than the fit reaches, which would hide any difference.
    hwm_reset = reset_peak_rss()
    rss_before = proc_status_kib("VmRSS")
    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    one_run(name, fn, dataset, steps, opt, os.devnull)
    peak = proc_status_kib("VmHWM") if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict[str, Any] = {"rss_before_kib": rss_before, "peak_rss_kib": peak, "hwm_reset": hwm_reset}
    if use_tracemalloc:
        import tracemalloc

        out["py_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print("MEMORY " + json.dumps(out))


def measure_memory(name: str, steps: int, opt: str, use_tracemalloc: bool) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", name, "--steps", str(steps), "--optimizer", opt]
    if use_tracemalloc:
        cmd.append("--tracemalloc")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("MEMORY "):
            return json.loads(line[len("MEMORY "):])
    raise RuntimeError(f"memory child {name} failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")


def steps_to_samples(steps: int) -> int:
    # 256 batches per epoch: a 2,048-step run is 8 whole epochs (8 checkpoint saves).
    return BATCH * min(256, steps)




# -- --profile: where stager's per-step time goes -------------------------------------------


_PER_STEP_HOOKS = frozenset({
    "on_train_batch_start", "on_before_backward", "on_after_backward",
    "on_before_optimizer_step", "on_before_zero_grad", "on_train_batch_end",
})


def _stager_ablation(pieces: set[str], run: Callable) -> Callable:
    """``run`` with pieces of stager's per-step work switched off by patching (undone after).

    An estimate of what each piece costs in place, not a supported configuration.
    """
    from stager.train import loops as stager_loops
    from stager.train.module import Module as StagerModule
    from stager.train.trainer import Trainer as StagerTrainer

    def ablated(*args: Any) -> dict[str, Any]:
        saved = (stager_loops._watch_finite, StagerModule.log, StagerTrainer._call_callbacks, StagerTrainer._call_module)
        call_callbacks, call_module = saved[2], saved[3]
        if "nan" in pieces:
            stager_loops._watch_finite = lambda trainer, loss: None
        if "log" in pieces:
            StagerModule.log = lambda self, *a, **k: None
        if "hooks" in pieces:
            StagerTrainer._call_callbacks = lambda self, hook, *a, **k: None if hook in _PER_STEP_HOOKS else call_callbacks(self, hook, *a, **k)
            StagerTrainer._call_module = lambda self, hook, *a: None if hook in _PER_STEP_HOOKS else call_module(self, hook, *a)
        try:
            return run(*args)
        finally:
            stager_loops._watch_finite, StagerModule.log, StagerTrainer._call_callbacks, StagerTrainer._call_module = saved

    return ablated


def profile_stager(dataset: TensorDataset, steps: int, opt: str, rounds: int, output_path: str | None) -> None:
    import cProfile
    import pstats

    run = _make_stager_runner()
    one_run("stager", run, dataset, steps, opt, output_path)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    one_run("stager", run, dataset, steps, opt, output_path)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (prim calls, calls, tottime, cumtime, callers)}

    def is_stager(key: tuple) -> bool:
        return f"{os.sep}stager{os.sep}" in key[0] and f"{os.sep}bench{os.sep}" not in key[0]

    def label(key: tuple) -> str:
        file, line, fn = key
        if file == "~":
            return fn
        parts = file.split(os.sep)
        where = os.sep.join(parts[parts.index("stager"):]) if "stager" in parts else parts[-1]
        return f"{where}:{line}({fn})"

    us = 1e6 / steps
    print(f"cProfile of one default stager fit, {steps} steps, per optimizer step (cProfile inflates cheap Python calls;")
    print("the ablation below, without a profiler, is the better measure of what each piece costs)")
    print(f"  {'calls/step':>10}{'own µs':>9}{'incl. µs':>10}  function (stager code, by inclusive time)")
    rows = sorted((k for k in stats if is_stager(k)), key=lambda k: -stats[k][3])
    for key in rows[:22]:
        _, calls, own, incl, _ = stats[key]
        print(f"  {calls / steps:>10.2f}{own * us:>9.2f}{incl * us:>10.2f}  {label(key)}")
    print(f"  {'calls/step':>10}{'':>9}{'incl. µs':>10}  non-stager functions as called from stager code (torch ops etc.)")
    edges = []
    for key, (_, _, _, _, callers) in stats.items():
        if is_stager(key):
            continue
        for caller, edge in callers.items():
            if is_stager(caller) and "training_step" not in label(caller):
                edges.append((edge[3], edge[1], key, caller))
    for incl, calls, key, caller in sorted(edges, key=lambda e: -e[0])[:14]:
        print(f"  {calls / steps:>10.2f}{'':>9}{incl * us:>10.2f}  {label(key)}  <- {label(caller)}")
    print()

    # A staircase: each row switches off one more piece than the row above, so the
    # differences between neighbouring rows roughly add up to the whole overhead.
    off = {"logger": False, "enable_checkpointing": False}
    variants: dict[str, Callable] = {
        "raw": run_raw,
        "stager (defaults)": run,
        "- checkpointing": _make_stager_runner(enable_checkpointing=False),
        "- CSV logger": _make_stager_runner(**off),
        "- self.log": _stager_ablation({"log"}, _make_stager_runner(**off)),
        "- hooks, NaN check": _stager_ablation({"log", "hooks", "nan"}, _make_stager_runner(**off)),
    }
    names = list(variants)
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            out = one_run(name, variants[name], dataset, steps, opt, output_path)
            cpu[name].append(out["cpu_total"])
            wall[name].append(out["wall_total"])

    def paired(a: str, b: str, clock: dict[str, list[float]]) -> float:
        return statistics.median(x - y for x, y in zip(clock[a], clock[b])) * us

    print(f"ablation staircase, {rounds} interleaved rounds, per step: each row switches off one more piece of")
    print("stager's work than the row above; 'costs' = median over rounds of (row above - this row) in the same round,")
    print("i.e. what the piece switched off in this row costs per step")
    print(f"  {'variant':<21}{'CPU/step':>10}{'vs raw':>10}{'costs':>10}{'wall/step':>11}{'vs raw':>10}{'costs':>10}")
    for i, n in enumerate(names):
        cost_c = f"{paired(names[i - 1], n, cpu):+.1f}µs" if i >= 2 else ""
        cost_w = f"{paired(names[i - 1], n, wall):+.1f}µs" if i >= 2 else ""
        print(f"  {n:<21}{statistics.median(cpu[n]) * us:>8.1f}µs{paired(n, 'raw', cpu):>+8.1f}µs{cost_c:>10}"
              f"{statistics.median(wall[n]) * us:>9.1f}µs{paired(n, 'raw', wall):>+8.1f}µs{cost_w:>10}")
    print("  - checkpointing: enable_checkpointing=False (the default saves once per epoch, here every 256 steps);")
    print("  - CSV logger: logger=False; - self.log: Module.log patched to return at once; - hooks, NaN check:")
    print("  the six per-batch hook dispatches and loops._watch_finite patched to return at once.  What is left in")
    print("  the last row is the loop itself.  Differences under ~10 µs are within this machine's noise.")


# -- main ------------------------------------------------------------------------------


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def print_table(title: str, names: list[str], totals: dict, loops: dict, steps: int) -> dict[str, float]:
    """One table for one clock; returns each contender's ratio of median total per step to raw's."""
    us = 1e6 / steps
    med = {n: statistics.median(totals[n]) for n in names}
    print(title)
    print(f"  {'contender':<16}{'per step':>11}{'vs raw':>11}{'ratio':>8}{'fixed':>9}   "
          f"{'ratio of mins':>13}{'per-round ratios':>24}")
    for n in names:
        per_round = sorted(t / b for t, b in zip(totals[n], totals["raw"]))
        fixed = med[n] - statistics.median(loops[n])
        print(
            f"  {n:<16}{med[n] * us:>9.1f}µs{(med[n] - med['raw']) * us:>+9.1f}µs{med[n] / med['raw']:>7.3f}x{fixed:>8.3f}s   "
            f"{min(totals[n]) / min(totals['raw']):>12.3f}x   {min(per_round):.3f}x .. {max(per_round):.3f}x"
        )
    print()
    return {n: med[n] / med["raw"] for n in names}


def print_epoch_table(names: list[str], epochs: dict[str, list[float]], samples: dict, n_batches: int,
                      steps: int) -> dict[str, float]:
    """The quiet-machine estimate: a low percentile of each contender's epoch cycle times.

    A virtual machine's host can slow it by a third for seconds at a time, so whole runs
    (and their medians) shift with the share of each run that fell in a slow spell.  A
    whole epoch (its batches and its epoch-end work: checkpoint, logging) at the 10th
    percentile of all epochs of all rounds is one that ran in a quiet spell, for every
    contender alike; the median part outside the batch loop (construction, setup,
    teardown) is added per step.  Returns each contender's estimate over raw's.
    """
    print(f"per-epoch estimate (wall-clock): 10th percentile of the {len(epochs['raw'])} whole epochs' cycle times / "
          f"{n_batches} batches, + the part")
    print("outside the batch loop (median) / steps; epochs in a slow spell of the machine fall above that percentile")
    print(f"  {'contender':<16}{'epoch p10':>11}{'p50':>11}{'fixed':>11}{'estimate':>11}{'vs raw':>11}{'ratio':>8}")
    rows = {}
    for n in names:
        ordered = sorted(epochs[n])
        p10, p50 = (ordered[int(q * (len(ordered) - 1))] / n_batches * 1e6 for q in (0.1, 0.5))
        fixed = statistics.median(t - loop for t, loop in zip(samples["wall_total"][n], samples["wall_loop"][n])) / steps * 1e6
        rows[n] = (p10, p50, fixed, p10 + fixed)
    estimate = {n: row[3] for n, row in rows.items()}
    for n, (p10, p50, fixed, est) in rows.items():
        print(f"  {n:<16}{p10:>9.1f}µs{p50:>9.1f}µs{fixed:>9.1f}µs{est:>9.1f}µs"
              f"{est - estimate['raw']:>+9.1f}µs{est / estimate['raw']:>7.3f}x")
    print()
    return {n: estimate[n] / estimate["raw"] for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2048, help="optimizer steps per run (default 2048 = 8 epochs of 256 batches)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--memory-rounds", type=int, default=2, help="fresh processes per contender for peak RSS (default 2; 0 skips)")
    parser.add_argument("--no-lightning", action="store_true", help="skip Lightning even when it is importable")
    parser.add_argument("--lightning-no-bar", action="store_true", help="also time Lightning with enable_progress_bar=False")
    parser.add_argument("--stager-bare", action="store_true", help="also time stager with logger, checkpointing and bar off")
    parser.add_argument("--inherit-output", action="store_true",
                        help="leave stdout/stderr as they are during timed runs (a terminal turns stager's bar on)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the comparison: cProfile one stager fit, then time stager with pieces switched off")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_child:
        memory_child(args.memory_child, args.steps, args.optimizer, args.tracemalloc)
        return

    torch.set_num_threads(1)
    quiet_warnings()
    if args.profile:
        dataset = make_data(steps_to_samples(args.steps))
        output_path = None if args.inherit_output else os.path.join(tempfile.mkdtemp(prefix="bench-output-"), "trainers.log")
        print(f"stager per-step profile: MLP {IN_FEATURES}->{HIDDEN}->{CLASSES}, {args.optimizer.upper()}, batch {BATCH}, "
              f"{args.steps} steps, torch.set_num_threads(1), load average {load_average()}")
        print(f"{stager_source_state()}")
        print()
        profile_stager(dataset, args.steps, args.optimizer, args.rounds, output_path)
        return
    lv = None if args.no_lightning else lightning_version()
    runs = contenders(lv is not None, args.lightning_no_bar, args.stager_bare)
    names = list(runs)
    dataset = make_data(steps_to_samples(args.steps))
    n_batches = len(make_loader(dataset))

    log_dir = tempfile.mkdtemp(prefix="bench-output-")
    output_path = None if args.inherit_output else os.path.join(log_dir, "trainers.log")
    bar_tty = sys.stderr.isatty() if output_path is None else False

    print("trainer overhead benchmark")
    print(f"  python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores, "
          f"torch.set_num_threads(1) for stable numbers; load average at start: {load_average()}")
    print(f"  {stager_source_state()}")
    print(f"  MLP {IN_FEATURES}->{HIDDEN}->{CLASSES}, {args.optimizer.upper()}, batch {BATCH}, "
          f"{len(dataset)} samples ({n_batches} batches/epoch), {args.steps} optimizer steps per run, "
          f"{args.rounds} interleaved rounds (order rotated)")
    if lv is None:
        why = "skipped (--no-lightning)" if args.no_lightning else "NOT importable in this environment, so not measured"
        print(f"  lightning: {why}; run bash bench/setup_lightning_env.sh, then .bench-venv/bin/python bench/trainer_overhead.py")
    else:
        print(f"  lightning {lv}: Trainer defaults + CSVLogger (its default logger when tensorboard is absent)")
    if output_path is not None:
        print(f"  the trainers' stdout/stderr during runs -> {output_path}: not a TTY, so stager's progress bar")
        print("  switches itself off there (stager prints one line per epoch instead); Lightning's bar stays on, as Lightning's does")
    else:
        print(f"  stdout/stderr left as they are (stderr a TTY: {bar_tty}): stager's progress bar is {'on' if bar_tty else 'off'}")

    # Warm-up, one epoch each: first-call costs (torch's lazy torch._dynamo import at the
    # first optimizer step, allocator growth, Lightning's first setup) stay out of the
    # timed rounds.  Its weights show whether the contenders agree after one epoch.
    epoch_one: dict[str, dict] = {}
    for name in names:
        out = one_run(name, runs[name], dataset, min(args.steps, n_batches), args.optimizer, output_path)
        epoch_one[name] = out["weights"]
        if "info" in out:
            print(f"  {name}: {out['info']}")
    print()

    samples: dict[str, dict[str, list[float]]] = {k: {n: [] for n in names} for k in ("wall_total", "wall_loop", "cpu_total", "cpu_loop")}
    finals: dict[str, dict] = {}
    epochs: dict[str, list[float]] = {n: [] for n in names}  # whole epochs' cycle times, wall-clock
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        line = []
        for name in order:
            out = one_run(name, runs[name], dataset, args.steps, args.optimizer, output_path)
            for key in samples:
                samples[key][name].append(out[key])
            epochs[name] += out["epochs"] if args.steps % n_batches == 0 else out["epochs"][:-1]
            if name in finals and max_abs_diff(finals[name], out["weights"]) != 0.0:
                print(f"  note: {name} gave different weights in round {r + 1} than before")
            finals[name] = out["weights"]
            line.append(f"{name} {out['wall_total']:.2f}s")
        print(f"  round {r + 1}: " + ", ".join(line))
    print(f"  load average at end: {load_average()}")
    print()

    print(f"time per step = (Trainer construction + fit) / steps, median over {args.rounds} rounds; ratio = that median /")
    print("raw's; fixed = the part of a run outside the batch loop (construction, setup, teardown); ratio of mins =")
    print("fastest run / raw's fastest (interference from other processes only ever adds time)")
    print()
    wall = print_table("wall-clock", names, samples["wall_total"], samples["wall_loop"], args.steps)
    cpu = print_table("CPU time (time.process_time: this process only, all threads)", names,
                      samples["cpu_total"], samples["cpu_loop"], args.steps)
    quiet = print_epoch_table(names, epochs, samples, n_batches, args.steps)

    print(f"weights: max abs difference from the raw loop's, after epoch 1 and after all {args.steps} steps")
    for n in names[1:]:
        first = max_abs_diff(epoch_one["raw"], epoch_one[n])
        diff = max_abs_diff(finals["raw"], finals[n])
        print(f"  {n:<16}epoch 1: {first:<9.3g}{'identical' if first == 0.0 else 'DIFFERENT':<11}"
              f"final: {diff:<9.3g}{'identical' if diff == 0.0 else 'DIFFERENT'}")
    if any(n.startswith("lightning") for n in names) and max_abs_diff(finals["raw"], finals["lightning"]) != 0.0:
        print("  Lightning's difference is data order, not arithmetic: it takes exactly len(loader) batches and never")
        print("  calls next() once more, so RandomSampler never draws its trailing torch.randperm(n)[:0] at the end of")
        print("  an epoch; the loader's generator is then one draw behind and epoch 2 onwards is shuffled differently.")
        print("  The raw loop and stager exhaust the iterator (StopIteration), so they consume the generator alike.")
    print()

    mem: dict[str, dict[str, float]] = {}
    if args.memory_rounds > 0:
        mem_names = [n for n in names if n in ("raw", "stager", "lightning")]
        print(f"peak memory, each contender alone in a fresh process ({args.memory_rounds} processes each, median)")
        print(f"  {'contender':<16}{'RSS before fit':>16}{'peak RSS':>12}{'vs raw':>10}{'fit adds':>12}{'py objects peak':>18}")
        for n in mem_names:
            runs_mem = [measure_memory(n, args.steps, args.optimizer, False) for _ in range(args.memory_rounds)]
            traced = measure_memory(n, args.steps, args.optimizer, True)
            mem[n] = {
                "before": statistics.median(s["rss_before_kib"] for s in runs_mem) / 1024,
                "peak": statistics.median(s["peak_rss_kib"] for s in runs_mem) / 1024,
                "py": traced["py_peak_bytes"] / 2**20,
                "hwm_reset": all(s["hwm_reset"] for s in runs_mem),
            }
        for n in mem_names:
            m = mem[n]
            rel = (m["peak"] / mem["raw"]["peak"] - 1) * 100
            print(f"  {n:<16}{m['before']:>13.1f}MiB{m['peak']:>9.1f}MiB{rel:>+9.2f}%{m['peak'] - m['before']:>9.1f}MiB{m['py']:>15.2f}MiB")
        if not all(m["hwm_reset"] for m in mem.values()):
            print("  NOTE: /proc/self/clear_refs was not writable: peak RSS is the whole process's (ru_maxrss)")
        print("  RSS before fit = torch + the contender's imports + the data; fit adds = peak - before;")
        print("  py objects peak = tracemalloc's peak of Python allocations during fit (tensor storage is not traced)")
        print()

    print("targets (ratio = median total time per step / raw loop's)")
    verdict = lambda ok: "MET" if ok else "NOT MET"  # noqa: E731
    print(f"  stager <= 1.03x raw loop:           wall {wall['stager']:.3f}x -> {verdict(wall['stager'] <= 1.03)}; "
          f"CPU {cpu['stager']:.3f}x -> {verdict(cpu['stager'] <= 1.03)}; "
          f"per-epoch estimate {quiet['stager']:.3f}x -> {verdict(quiet['stager'] <= 1.03)}")
    if "lightning" in names:
        print(f"  stager below Lightning's ratio:     wall {wall['stager']:.3f}x vs {wall['lightning']:.3f}x -> "
              f"{verdict(wall['stager'] < wall['lightning'])}; CPU {cpu['stager']:.3f}x vs {cpu['lightning']:.3f}x -> "
              f"{verdict(cpu['stager'] < cpu['lightning'])}")
    else:
        print("  stager below Lightning's ratio:     not measured (lightning not importable here)")
    if mem:
        rel = (mem["stager"]["peak"] / mem["raw"]["peak"] - 1) * 100
        print(f"  stager peak RSS within 1% of raw:   {rel:+.2f}% -> {verdict(abs(rel) <= 1.0)}")


if __name__ == "__main__":
    main()
