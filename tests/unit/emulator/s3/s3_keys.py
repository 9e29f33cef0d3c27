"""Access keys and bucket names the S3 emulator tests share (a uniquely named module, not conftest)."""

ACCOUNT = ("STAGERACCOUNT", "account-secret")
READ_ONLY = ("STAGERREADONLY", "read-only-secret")
READ_WRITE = ("STAGERREADWRITE", "read-write-secret")
DATA_BUCKET = "stager-data"  # the bucket the limited keys are scoped to
OTHER_BUCKET = "other-team"
