"""Block Storage volumes: label, size, region, and a directory of contents that follows attachments."""
