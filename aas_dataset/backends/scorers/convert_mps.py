"""Convert MPS's released checkpoint (a pickled whole nn.Module) to safetensors, once, in its
own process, only when the user asks (`aas convert-mps`). The build never unpickles anything.

The unpickler here does not import the MPS repository or old transformers: every class the
pickle names outside torch is replaced by an inert stub that only records its state, and
globals that are not classes are refused unless they are torch's tensor rebuilders. From the
rebuilt tree the parameters and persistent buffers are collected under their module paths and
written as safetensors, with a JSON report of the keys and the source's sha256.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from collections import OrderedDict
from pathlib import Path


class Stub:
    """Stands in for any pickled class outside torch: keeps the state it is given."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__["_state"] = state


def _allowed() -> dict:
    """torch's own allowlist for weights-only loading (tensor rebuilders, dtypes, OrderedDict, ...)
    plus the object reconstructor that pickled modules go through."""
    import copyreg

    from torch import _weights_only_unpickler as w

    return {**w._get_allowed_globals(), "copyreg._reconstructor": copyreg._reconstructor, "builtins.object": object}


def _inert(*args, **kwargs):
    return None


class StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol-2 names
        allowed = _allowed()
        if f"{module}.{name}" in allowed:
            return allowed[f"{module}.{name}"]
        if name[:1].isupper() and name.isidentifier():  # a class (trainer.*, transformers.*, torch.nn.*)
            return type(name, (Stub,), {"__module__": module})
        if module.startswith("torch.") and name.isidentifier():
            # a function stored as an attribute (an activation such as torch._C._nn.gelu): only
            # its reference matters, so an inert placeholder stands in and is never a real call
            return _inert
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")


def _restricted_load(f, **kwargs):
    return StubUnpickler(f, **kwargs).load()


class _PickleModule:
    """What torch.load unpickles with. Both entry points are restricted: torch's legacy
    (non-zip) reader also calls `load` directly for the magic number, the header and the
    storage keys, so a plain `pickle.load` there would run a payload placed in any of them."""

    Unpickler = StubUnpickler
    load = staticmethod(_restricted_load)


def _walk(node, prefix: str, out: dict) -> None:
    state = getattr(node, "_state", None)
    if not isinstance(state, dict):
        return
    if isinstance(state.get("_parameters"), dict):
        skip = set(state.get("_non_persistent_buffers_set") or ())
        for k, v in state["_parameters"].items():
            if v is not None:
                out[prefix + k] = v
        for k, v in (state.get("_buffers") or {}).items():
            if v is not None and k not in skip:
                out[prefix + k] = v
        for k, child in (state.get("_modules") or {}).items():
            _walk(child, f"{prefix}{k}.", out)


def convert(src: Path, dst: Path) -> dict:
    import torch
    from safetensors.torch import save_file

    obj = torch.load(str(src), map_location="cpu", weights_only=False, pickle_module=_PickleModule)
    tensors: dict = OrderedDict()
    _walk(obj, "", tensors)
    if not tensors:
        raise ValueError(f"{src}: no module parameters found in the pickle")
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items() if not k.endswith("position_ids")}
    tmp = dst.with_name(dst.name + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(dst)
    report = {
        "source": str(src),
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "output_sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
        "keys": {k: list(v.shape) for k, v in tensors.items()},
    }
    dst.with_suffix(".json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":  # run by `aas convert-mps` in a separate process
    r = convert(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps({"tensors": len(r["keys"]), "output_sha256": r["output_sha256"]}))
