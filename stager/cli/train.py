"""``stager train fit|validate|test|predict``: LightningCLI-shaped commands over ``stager.train.config``.

Extra ``--section.key VALUE`` arguments override the config files, e.g.
``stager train fit --config exp.yaml --trainer.max_epochs 1 --model.hidden 64``.
The config files are always read first and the overrides applied after them,
wherever ``--config`` appears on the line.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Train, evaluate and predict from a LightningCLI-style YAML config.",
    no_args_is_help=True,
    add_completion=False,
)

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
_CONFIG = typer.Option(None, "--config", "-c", help="YAML config file; repeat to layer several (later wins).")
_PRINT = typer.Option(
    False, "--print-config", "--print_config", help="Print the resolved config as YAML and exit without running."
)


def _run(subcommand: str, ctx: typer.Context, config: list[Path] | None, print_config: bool) -> None:
    from stager.errors import Interrupted
    from stager.interrupts import interruptible
    from stager.train import config as train_config

    # The root command reads --debug from anywhere on the line; it is not an override.
    overrides = [arg for arg in ctx.args if arg != "--debug"]
    # SIGTERM (a run stopped by its controller, a preempted SLURM job) ends training as Ctrl-C does:
    # the checkpoints already written are made durable and announced (pushed) before the exit.
    try:
        with interruptible():
            result = train_config.run(subcommand, list(config or []), overrides, print_config=print_config,
                                      echo=typer.echo)
    except KeyboardInterrupt as exc:  # the trainer has torn down: say so on one line, exit 130
        kept = "; every checkpoint saved before it is complete" if subcommand == "fit" else ""
        raise Interrupted(f"train {subcommand} interrupted ({exc or 'Ctrl-C'}){kept}") from None
    if subcommand == "predict" and result is not None:
        typer.echo(str(result))


@app.command(context_settings=_EXTRA)
def fit(ctx: typer.Context, config: list[Path] | None = _CONFIG, print_config: bool = _PRINT) -> None:
    """Train the model (and validate it as configured)."""
    _run("fit", ctx, config, print_config)


@app.command(context_settings=_EXTRA)
def validate(ctx: typer.Context, config: list[Path] | None = _CONFIG, print_config: bool = _PRINT) -> None:
    """Run one validation pass over the validation data."""
    _run("validate", ctx, config, print_config)


@app.command(context_settings=_EXTRA)
def test(ctx: typer.Context, config: list[Path] | None = _CONFIG, print_config: bool = _PRINT) -> None:
    """Run one pass over the test data."""
    _run("test", ctx, config, print_config)


@app.command(context_settings=_EXTRA)
def predict(ctx: typer.Context, config: list[Path] | None = _CONFIG, print_config: bool = _PRINT) -> None:
    """Predict over the predict data; saves the list to predictions.pt and prints its path."""
    _run("predict", ctx, config, print_config)
