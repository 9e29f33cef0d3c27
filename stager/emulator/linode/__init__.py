"""Instances, their disks, plans (types) and regions."""
