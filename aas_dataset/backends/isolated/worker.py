"""Worker process of an isolated scorer environment. Standard library only: it runs under the
environment's own Python, beside whatever pinned packages that environment holds, and never
imports aas_dataset.

Protocol (one JSON object per line on stdin, one reply line on stdout):
  {"cmd": "load", "args": {...}}          -> runner.load(args) once; reply {"ok": true}
  {"cmd": "score", "dir": "/path"}        -> reads /path/request.json ({"images": [png names],
                                             "prompts": [...]}), writes /path/scores.json
                                             (atomically: tmp then rename); reply {"ok": true}
  {"cmd": "exit"}                          -> exits 0
A failure replies {"ok": false, "error": "..."}; the worker stays up for the next request.
The runner is a Python file defining `load(args) -> state` and
`score(state, image_paths, prompts) -> list of floats or of lists of floats`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback


def _runner(path: str):
    spec = importlib.util.spec_from_file_location("aas_runner", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    runner = _runner(sys.argv[1])
    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not corrupt the reply channel
    state = None
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            if msg["cmd"] == "exit":
                return 0
            if msg["cmd"] == "load":
                state = runner.load(msg.get("args") or {})
            elif msg["cmd"] == "score":
                d = msg["dir"]
                with open(os.path.join(d, "request.json")) as f:
                    req = json.load(f)
                scores = runner.score(state, [os.path.join(d, n) for n in req["images"]], req["prompts"])
                tmp = os.path.join(d, "scores.json.tmp")
                with open(tmp, "w") as f:
                    json.dump([s if isinstance(s, list) else float(s) for s in scores], f)
                os.replace(tmp, os.path.join(d, "scores.json"))
            else:
                raise ValueError(f"unknown command {msg['cmd']!r}")
            reply = {"ok": True}
        except Exception as e:
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=5)}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
