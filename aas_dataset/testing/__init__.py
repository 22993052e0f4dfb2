"""Test helpers that users of the package can reuse (a fake OpenAI-compatible server)."""
