"""Runner: the official side of the HPS parity check, inside an environment with open_clip
and torchvision (which do not install beside our torch here).

load(args): builds open_clip's CLIP from `model_cfg` with open_clip's own initialisation
(seeded), saves its state dict as `{'state_dict': ...}` to `save_to` (the checkpoint format of
HPS v1 / HPSv2), and writes the SimpleTokenizer's vocabulary as vocab.json + merges.txt to
`export_tokenizer_to`, so the port can tokenise with the same BPE.
score(paths, prompts): per image [cosine, *pixels] with open_clip's forward on pixels made by
torchvision's own transforms: `transform: hpsv2` = ToTensor, tensor bicubic resize of the
longest side (antialias as given), zero pad to square, Normalize (HPSv2's ResizeMaxSize
evaluation path); `transform: openai` = Resize(shortest, bicubic), CenterCrop, ToTensor,
Normalize (the OpenAI CLIP transform of HPS v1).
"""

import json
import os

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def load(args):
    import open_clip
    import torch

    torch.manual_seed(int(args.get("seed", 0)))
    cfg = args["model_cfg"]
    model = open_clip.model.CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=cfg["vision_cfg"],
        text_cfg=cfg["text_cfg"],
        quick_gelu=bool(cfg.get("quick_gelu", False)),
    ).eval()
    torch.save({"state_dict": model.state_dict()}, args["save_to"])
    tok = open_clip.tokenizer.SimpleTokenizer()
    out = args["export_tokenizer_to"]
    os.makedirs(out, exist_ok=True)
    vocab = dict(tok.encoder)
    # the same vocabulary under the special-token names transformers' CLIPTokenizer uses
    vocab["<|startoftext|>"] = vocab.pop("<start_of_text>")
    vocab["<|endoftext|>"] = vocab.pop("<end_of_text>")
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    merges = sorted(tok.bpe_ranks, key=tok.bpe_ranks.get)
    with open(os.path.join(out, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return {"model": model, "tokenize": open_clip.tokenize, **args}


def _pixels(state, path):
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF
    from PIL import Image

    im = Image.open(path).convert("RGB")
    size = state["model_cfg"]["vision_cfg"]["image_size"]
    if state["transform"] == "openai":
        t = T.Compose(
            [
                T.Resize(size, interpolation=T.InterpolationMode.BICUBIC),
                T.CenterCrop(size),
                T.ToTensor(),
                T.Normalize(MEAN, STD),
            ]
        )
        return t(im)
    x = T.ToTensor()(im)
    h, w = x.shape[1:]
    scale = size / max(h, w)
    if scale != 1.0:
        nh, nw = round(h * scale), round(w * scale)
        x = TF.resize(x, [nh, nw], interpolation=T.InterpolationMode.BICUBIC, antialias=state.get("antialias", True))
        pw, ph = size - nw, size - nh
        x = TF.pad(x, [pw // 2, ph // 2, pw - pw // 2, ph - ph // 2], fill=0)
    return T.Normalize(MEAN, STD)(x)


def score(state, image_paths, prompts):
    import torch

    with torch.no_grad():
        px = torch.stack([_pixels(state, p) for p in image_paths])
        img = state["model"].encode_image(px, normalize=True)
        txt = state["model"].encode_text(state["tokenize"](list(prompts)), normalize=True)
        cos = (img * txt).sum(-1)
    return [[float(c), *[float(v) for v in p.flatten()]] for c, p in zip(cos, px, strict=True)]
