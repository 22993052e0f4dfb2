"""Scorers whose official code cannot share our environment (hpsv3 pins transformers 4.45.2,
image-reward pins timm 0.6.13, ...): each runs in its own virtual environment, created on
demand from its pinned requirements and cached, in a worker process that loads the model
once and talks to the score stage through a small file-based protocol
(`aas_dataset/backends/isolated/worker.py`): images as PNG files and the prompts in a request
folder, scores back as JSON, one control line per batch.

Environments live under `$AAS_ENV_DIR` (default `~/.cache/aas_dataset/envs`), one folder per
(requirements, Python) digest, built under a temporary name and renamed into place when pip
has finished, so a crash never leaves a half-built environment that looks ready.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from pydantic import Field

from aas_dataset.backends.base import Scorer
from aas_dataset.util import Strict, digest, excerpt

WORKER = Path(__file__).resolve().parent / "worker.py"
RUNNERS = WORKER.parent / "runners"


def env_root() -> Path:
    return Path(os.environ.get("AAS_ENV_DIR") or Path.home() / ".cache" / "aas_dataset" / "envs")


class IsolatedEnv:
    def __init__(self, requirements: list[str], root: Path | None = None, python: str = sys.executable):
        self.requirements = sorted(requirements)
        self.base_python = python
        ver = f"{sys.version_info.major}.{sys.version_info.minor}"
        self.path = (root or env_root()) / f"env-{digest({'req': self.requirements, 'py': ver})[:16]}"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def ready(self) -> bool:
        return (self.path / "aas-ready.json").exists()

    def ensure(self, log=None) -> Path:
        """Create the environment once; concurrent builders each build their own temporary
        copy and the first rename wins."""
        if self.ready:
            return self.python
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=self.path.name + ".tmp-", dir=self.path.parent))
        try:
            subprocess.run([self.base_python, "-m", "venv", str(tmp)], check=True, capture_output=True)
            cmd = [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            res = subprocess.run(cmd + self.requirements, capture_output=True, text=True)
            if res.returncode != 0:
                errors = [ln for ln in res.stderr.splitlines() if ln.startswith("ERROR")]
                errors = errors or [excerpt(res.stderr.strip(), -800)]
                raise RuntimeError(f"pip could not build the isolated environment: {excerpt(' '.join(errors), 1200)}")
            freeze = subprocess.run(
                [str(tmp / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True
            )
            (tmp / "aas-ready.json").write_text(
                json.dumps({"requirements": self.requirements, "freeze": freeze.stdout})
            )
            # `bin/python` and pyvenv.cfg do not depend on the folder's name: renaming is safe
            # (the worker is always started as `<env>/bin/python worker.py`, never via scripts).
            try:
                os.rename(tmp, self.path)
            except OSError:
                if not self.ready:
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.python


class IsolatedSettings(Strict):
    TRANSPORT = frozenset({"timeout_s"})
    # pip requirement strings of the environment (pins included); torch==2.13.0 comes from the local wheel
    requirements: list[str] = Field(min_length=1)
    # a file under aas_dataset/backends/isolated/runners (by name) or an absolute path
    runner: str
    runner_args: dict = {}
    timeout_s: float = Field(default=3600.0, gt=0)


class IsolatedScorer(Scorer):
    """A scorer run by a runner file inside its own environment (see module docstring)."""

    Settings = IsolatedSettings
    VERSION = 1

    def _runner_path(self) -> Path:
        p = Path(self.settings.runner)
        if not p.is_absolute():
            p = RUNNERS / (p.name if p.suffix == ".py" else p.name + ".py")
        if not p.is_file():
            raise RuntimeError(f"scorer {self.name!r}: runner {self.settings.runner!r} not found ({p})")
        return p

    def load(self) -> None:
        runner = self._runner_path()
        python = IsolatedEnv(self.settings.requirements).ensure()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.proc = subprocess.Popen(
            [str(python), str(WORKER), str(runner)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's library chatter goes to our stderr
            text=True,
            env=env,
        )
        args = dict(self.settings.runner_args)
        if self.model_id and "model" not in args:
            args["model"] = self.model_id
        self._ask({"cmd": "load", "args": args}, "load")
        self.workdir = Path(tempfile.mkdtemp(prefix="aas-isolated-"))

    def _ask(self, msg: dict, what: str) -> None:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"scorer {self.name!r}: isolated worker exited during {what} (code {self.proc.poll()})")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"scorer {self.name!r}: isolated worker failed in {what}: {reply.get('error')}")

    def score(self, images, prompts) -> np.ndarray:
        d = Path(tempfile.mkdtemp(dir=self.workdir))
        try:
            names = []
            for i, im in enumerate(images):
                names.append(f"{i:06d}.png")
                im.save(d / names[-1], format="PNG")
            (d / "request.json").write_text(json.dumps({"images": names, "prompts": list(prompts)}))
            self._ask({"cmd": "score", "dir": str(d)}, "score")
            out = np.asarray(json.loads((d / "scores.json").read_text()), dtype=np.float64)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        if len(out) != len(images):
            raise RuntimeError(f"scorer {self.name!r}: worker returned {len(out)} scores for {len(images)} images")
        return out

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                proc.stdin.flush()
                proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
        if getattr(self, "workdir", None) is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
