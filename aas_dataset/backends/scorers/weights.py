"""Reading released reward-model weights safely, one way for every scorer port."""

from __future__ import annotations

from pathlib import Path


def load_checkpoint(path: str) -> dict:
    """A tensors-only checkpoint: safetensors, or a torch pickle read with weights_only=True
    (never a full unpickle)."""
    import torch

    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    return sd.get("state_dict", sd) if isinstance(sd, dict) else sd


def weights_file(name: str, model_id: str | None, revision: str | None, label: str) -> str:
    """An existing local file; `repo/id:filename` on the Hub; else `name` inside `model_id`."""
    if Path(name).is_file():
        return name
    from huggingface_hub import hf_hub_download

    if ":" in name and not name.startswith("/"):
        repo, filename = name.split(":", 1)
        return hf_hub_download(repo, filename, revision=revision)
    if not model_id:
        raise RuntimeError(f"{label}: weights file {name!r} not found")
    return hf_hub_download(model_id, name, revision=revision)


def load_exactly(module, state_dict: dict, label: str) -> None:
    """Load and fail on any missing or unexpected weight (the official loaders used
    strict=False and could miss weights silently). `position_ids` buffers are not saved by
    transformers 5, so their absence is not an error."""
    missing, unexpected = module.load_state_dict(state_dict, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"{label}: weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
