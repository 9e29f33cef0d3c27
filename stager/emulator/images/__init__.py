"""Public and private images: capture from a disk, upload, reuse."""
