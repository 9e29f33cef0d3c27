"""stager: repeatable, audited, cost-capped GPU training on Linode."""

__version__ = "0.1.0"
