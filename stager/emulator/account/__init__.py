"""Profile, account, events, tags and billing."""
