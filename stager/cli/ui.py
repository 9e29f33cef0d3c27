"""``stager ui``: the ledger in a browser, read-only, on this machine only (see docs/ui.md)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["ui"]


def ui(
    port: int = typer.Option(0, "--port", min=0, max=65535, help="The port to serve on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="A loopback address to serve on: 127.0.0.1, ::1 or "
                             "localhost. Other hosts are refused."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="The folder holding the runs' folders, for "
                                  "their metrics and logs."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: "
                                       "$STAGER_HOME/ledger.sqlite)."),
) -> None:
    """Serve a read-only web page of the ledger: runs (filter, sort), each run's report, diffs and costs.

    It never writes the ledger, and serves until Ctrl-C or SIGTERM.
    """
    from stager.home import stager_home
    from stager.interrupts import interruptible
    from stager.ledger import LEDGER_FILE
    from stager.ui.server import make_server
    from stager.ui.site import Site

    home = stager_home()
    site = Site(ledger=ledger if ledger is not None else home / LEDGER_FILE, runs_dir=runs_dir, home=home)
    server = make_server(site, host, port)
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"stager ui: serving http://{shown}:{bound}/ (Ctrl-C to stop)")
    try:
        with interruptible():  # SIGTERM stops the server as Ctrl-C does
            server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stager ui: stopped")
    finally:
        server.server_close()
