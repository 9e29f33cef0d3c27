"""Training data: validation, content-addressed manifests, and moving data to where GPUs read it."""
