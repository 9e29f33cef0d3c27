"""``stager emulator serve|status|reset``: run and inspect the local Linode emulator."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import typer

from stager.errors import StagerError, UsageError

app = typer.Typer(help="Run and inspect the local Linode API emulator (the `local` target).",
                  no_args_is_help=True, add_completion=False)

_STATE_DIR = typer.Option(None, "--state-dir", help="State directory (default: $STAGER_HOME/emulator, "
                          "with STAGER_HOME defaulting to ./.stager).")


def _state_dir(value: Path | None) -> Path:
    from stager.emulator.local import default_state_dir

    return Path(value) if value else default_state_dir()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you say otherwise."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="API port (0: any free port)."),
    s3_port: int = typer.Option(0, "--s3-port", min=0, max=65535, help="Object Storage port (0: any free port)."),
    state_dir: Path | None = _STATE_DIR,
) -> None:
    """Serve until SIGINT/SIGTERM. The first stdout line is JSON: base_url, token, s3_endpoint."""
    from stager.emulator import Emulator, StateDirBusy

    emulator = Emulator(_state_dir(state_dir), host=host, port=port, s3_port=s3_port)
    try:
        emulator.start()
    except StateDirBusy as exc:
        raise UsageError(f"{exc}; stop it or pass another --state-dir") from None
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        typer.echo(json.dumps(emulator.connection_info()), nl=True)
        import sys

        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()


def _request(endpoint: dict, token: str, method: str, action: str) -> dict:
    import requests

    url = endpoint["base_url"].rsplit("/v4", 1)[0] + f"/_emulator/{action}"
    response = requests.request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if response.status_code != 200:
        raise StagerError(f"the emulator answered {response.status_code} to {action}")
    return response.json()


def _default_token(state_dir: Path) -> str:
    from stager.emulator.core.state import load_state

    state = load_state(state_dir / "state.json") or {}
    return next((t["token"] for t in state.get("tokens", []) if t.get("label") == "default"), "")


@app.command()
def status(state_dir: Path | None = _STATE_DIR,
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What the local emulator holds: instances, images, volumes, buckets, cost so far."""
    from stager.emulator import Emulator, running_endpoint
    from stager.emulator.control import status as read_status

    directory = _state_dir(state_dir)
    if not (directory / "state.json").exists():
        raise UsageError(f"{directory}: no emulator state here (start one with `stager emulator serve`)")
    endpoint = running_endpoint(directory)
    if endpoint is not None:
        report = _request(endpoint, _default_token(directory), "GET", "status")
        report["serving"] = endpoint["base_url"]
    else:
        emulator = Emulator(directory).start()
        try:
            report = read_status(emulator.backend)
        finally:
            emulator.stop()
        report["serving"] = None
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"state:     {directory}")
    typer.echo(f"serving:   {report['serving'] or 'no (state only)'}")
    instances = report["instances"]
    typer.echo(f"instances: {len(instances)}" + "".join(f"\n  {k}: {v}" for k, v in instances.items()))
    typer.echo(f"images:    {report['images']}\nvolumes:   {report['volumes']}\nbuckets:   {report['buckets']}")
    typer.echo(f"billed:    ${report['billing']['total_usd']:.4f} (emulated clock {report['now']})")


@app.command()
def reset(state_dir: Path | None = _STATE_DIR,
          yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete every emulated resource (instances, images, volumes, buckets and objects)."""
    from stager.emulator import Emulator, running_endpoint

    directory = _state_dir(state_dir)
    if not (directory / "state.json").exists():
        typer.echo(f"{directory}: nothing to reset")
        return
    if not yes and not typer.confirm(f"Delete everything in the emulator at {directory}?"):
        raise typer.Abort()
    endpoint = running_endpoint(directory)
    if endpoint is not None:
        _request(endpoint, _default_token(directory), "POST", "reset")
    else:
        emulator = Emulator(directory).start()
        try:
            emulator.reset()
        finally:
            emulator.stop()
    typer.echo(f"reset {directory}")
