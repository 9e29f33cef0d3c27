"""stager's Linode API v4 emulator: the API, sandbox instances over real SSH, and Object Storage.

The real ``linode_api4`` client, paramiko/fabric and boto3 work against it
unchanged; it is what the tests run against and what ``target: local`` is.
"""

from stager.emulator.server import Emulator, StateDirBusy, running_endpoint

__all__ = ["Emulator", "StateDirBusy", "running_endpoint"]
