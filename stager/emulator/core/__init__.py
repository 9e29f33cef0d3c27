"""The emulator's plumbing: HTTP, routing, auth, pagination, clock, faults and persistence."""
