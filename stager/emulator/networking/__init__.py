"""Cloud Firewalls: rules and devices recorded as Linode records them, never enforced."""
