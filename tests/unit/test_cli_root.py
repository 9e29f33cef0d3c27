"""The root command: help, version, and one-line errors with the documented exit codes."""

from __future__ import annotations

import subprocess
import sys

import stager


def _stager(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stager.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_and_version():
    assert "train" in _stager("--help").stdout
    done = _stager("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"stager {stager.__version__}"


def test_unknown_command_is_a_usage_error():
    done = _stager("frobnicate")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_missing_config_file_is_one_line_exit_2(tmp_path):
    done = _stager("train", "fit", "--config", str(tmp_path / "missing.yaml"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "missing.yaml" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_library_logs_stay_off_the_terminal_unless_debug():
    import logging

    from stager.cli.main import _quiet_libraries

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    root, paramiko_logger = logging.getLogger(), logging.getLogger("paramiko")
    seen, before = Collect(), paramiko_logger.propagate
    root.addHandler(seen)
    try:
        logging.getLogger("paramiko.transport").error("Socket exception: Connection reset by peer (104)")
        assert seen.messages, "without stager's setting the record reaches the root handlers (the terminal)"
        seen.messages.clear()
        _quiet_libraries(debug=False)
        logging.getLogger("paramiko.transport").error("Socket exception: Connection reset by peer (104)")
        assert seen.messages == []
    finally:
        root.removeHandler(seen)
        paramiko_logger.propagate = before
