"""SSH to instances through fabric: pinned host keys, quoted commands, verified transfers, detached jobs.

```python
from stager.remote import Remote, SshTarget, command, new_key_pair

with Remote(target, log_file=run_dir / "remote.log", on_line=print) as remote:
    remote.wait_until_ready(timeout=300)
    remote.put_file(config_path, "run/config.yaml")
    job = remote.start_detached(command("stager", "train", "--config", "config.yaml"), name="train", workdir="run")
    exit_code = remote.follow(job)
```

`keys` makes the key pairs (a run's client key, the host key pinned through
cloud-init), `quoting` builds every command line, `connection` opens one
pinned fabric connection, `session` holds `Remote`, with its file methods in
`transfer` and its detached-job methods in `jobs`.
"""

from __future__ import annotations

from stager.remote.connection import SshTarget
from stager.remote.errors import (
    CommandTimedOut,
    HostKeyMismatch,
    JobAlreadyRunning,
    KeyFileError,
    RemoteCommandFailed,
    RemoteError,
    SshConnectionError,
    SshTimeout,
    TransferError,
)
from stager.remote.jobs import DetachedJob, JobStatus
from stager.remote.keys import (
    KeyPair,
    host_key_cloud_config,
    load_key_pair,
    new_key_pair,
)
from stager.remote.output import CommandResult
from stager.remote.quoting import command, in_dir, quote, with_env
from stager.remote.session import Remote

__all__ = [
    "CommandResult",
    "CommandTimedOut",
    "DetachedJob",
    "HostKeyMismatch",
    "JobAlreadyRunning",
    "JobStatus",
    "KeyFileError",
    "KeyPair",
    "Remote",
    "RemoteCommandFailed",
    "RemoteError",
    "SshConnectionError",
    "SshTarget",
    "SshTimeout",
    "TransferError",
    "command",
    "host_key_cloud_config",
    "in_dir",
    "load_key_pair",
    "new_key_pair",
    "quote",
    "with_env",
]
