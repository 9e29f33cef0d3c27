"""Training sprints: many experiments under one budget, packed onto few billed instance-hours."""
