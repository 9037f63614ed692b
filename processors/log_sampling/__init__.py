"""Log sampling: trace-consistent, never drops warnings or errors, adaptive under load."""
