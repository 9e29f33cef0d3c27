"""The root `stager` command: joins the command groups and maps errors to exit codes.

A user sees one line per error; the traceback only with ``--debug``.
"""

from __future__ import annotations

import sys

import typer

from stager import __version__
from stager.errors import EXIT_FAILED, EXIT_INTERRUPTED, StagerError

app = typer.Typer(
    name="stager",
    help="Repeatable, audited, cost-capped GPU training on Linode.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stager {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Repeatable, audited, cost-capped GPU training on Linode."""
    _state["debug"] = debug


def _register() -> None:
    from stager.cli import cost, data, emulator, gc, image, runs, sprint, train, ui
    from stager.cli.run import run

    app.command("run")(run)
    app.add_typer(train.app, name="train")
    app.command("build-image")(image.build_image)
    app.add_typer(image.app, name="image")
    app.add_typer(data.app, name="data")
    app.add_typer(runs.app, name="runs")
    app.add_typer(sprint.app, name="sprint")
    app.add_typer(cost.app, name="cost")
    app.add_typer(emulator.app, name="emulator")
    app.command("gc", help=gc.HELP)(gc.gc)
    app.command("ui")(ui.ui)


def _fail(message: str, code: int) -> int:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return code


def _is_click_exception(exc: Exception) -> bool:
    # typer may vendor click under another module name: match by duck type, not import
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(exc, "show")


def _quiet_libraries(debug: bool) -> None:
    """Library log records stay out of the user's terminal unless ``--debug``.

    paramiko logs a dropped connection at ERROR level, which Python would print
    even with no logging configured; stager reports what matters itself.
    """
    import logging

    if debug:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return
    for name in ("paramiko", "invoke", "fabric", "urllib3", "botocore"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit code."""
    _register()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _quiet_libraries(debug)
    returned = None
    try:
        # Outside standalone mode click returns, rather than raises, the code of a typer.Exit.
        returned = app(args, standalone_mode=False)
    except StagerError as exc:
        if debug:
            raise
        code = _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        code = _fail("interrupted", EXIT_INTERRUPTED)
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, EOFError):
        code = _fail("aborted", EXIT_INTERRUPTED)
    except Exception as exc:  # the parser's own usage errors, and anything unexpected
        if _is_click_exception(exc):
            exc.show()
            code = exc.exit_code
        elif debug:
            raise
        else:
            code = _fail(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", EXIT_FAILED)
    else:
        code = returned if isinstance(returned, int) and not isinstance(returned, bool) else 0
    sys.exit(code)
