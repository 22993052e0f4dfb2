"""aas_dataset: build, verify, publish and analyse the AAS anti-aesthetic benchmark."""

from __future__ import annotations

from aas_dataset.version import __version__

__all__ = [
    "__version__",
    "build",
    "diff",
    "evaluate_reward_model",
    "export_webdataset",
    "load",
    "release",
    "report",
    "verify",
]
_API = ("build", "verify", "report", "export_webdataset", "release", "diff")


def __getattr__(name: str):
    # Keep `import aas_dataset` light: the loader imports `datasets` only when used.
    if name in _API:  # the commands as functions (aas_dataset/api.py)
        from aas_dataset import api

        return getattr(api, name)
    if name == "load":
        from aas_dataset.release.loader import load

        return load
    if name == "evaluate_reward_model":
        from aas_dataset.analysis.evaluate import evaluate_reward_model

        return evaluate_reward_model
    raise AttributeError(name)
