"""Code that runs inside isolated per-scorer environments (standard library + that env only)."""
