"""The benchmark's vocabularies: the 11 aesthetic dimensions, the AVA photo taxonomy, emotions.

Dimension keys are VisionReward's generation subset. Their canonical order is alphabetical;
every per-dimension vector in the data (rater scores, predictions) uses this order.
Descriptions are ours: `anti_pole` says what the deliberately "bad" pole of the dimension looks
like, item by item what the authors' effect description (their prompts.json) says, and is what
an LLM rewriter is given in `texts: ours` mode; `phrase` is the clause the offline template
rewriter appends to a caption, the same content as a clause.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    key: str
    anti_pole: str
    phrase: str
    # For the weight-free image_stats judge: which statistic the anti-aesthetic pole should
    # push, and in which direction (-1 lower, +1 higher). None: not measurable from pixels.
    stat: str | None = None
    direction: int = 0


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "background",
        "the background is of low quality, missing altogether, or ugly",
        "against a low-quality, ugly background, or none at all",
    ),
    Dimension(
        "clarity",
        "the image is noticeably blurry, as if noise or distortion were present",
        "noticeably blurry, as if overlaid with noise and distortion",
        stat="sharpness",
        direction=-1,
    ),
    Dimension(
        "color aesthetic",
        "the colours are ugly and unpleasant, often through a lack of harmony, abrupt changes, overexposure or "
        "a poor choice of colours",
        "in ugly, unpleasant colours that lack harmony, change abruptly, are overexposed or poorly chosen",
    ),
    Dimension(
        "color brightness",
        "the image is dark: judged by its colour alone, it reads as dark",
        "dark in colour throughout",
        stat="brightness",
        direction=-1,
    ),
    Dimension(
        "detail realism",
        "the details are unrealistic: the image contradicts reality, with objects so heavily distorted or "
        "deformed that the flaws show even when the image is scaled down",
        "with objects so distorted and deformed that they contradict reality, the flaws visible even at a small size",
    ),
    Dimension(
        "detail refinement",
        "important elements look noticeably rough up close, or the whole image feels rough; key details are "
        "blatantly rough or unfinished, so rough that objects cannot be made out, and beyond being "
        "indecipherable the image looks extremely fragmented and broken",
        "so roughly made and unfinished that objects cannot be made out, the whole picture fragmented and broken",
    ),
    Dimension(
        "emotion",
        "the image shows and evokes negative emotions such as creepiness, hostility, sadness, fear, "
        "frustration, loneliness, emptiness, guilt or anxiety",
        "evoking negative emotions such as creepiness, hostility, sadness, fear, frustration, loneliness, "
        "emptiness, guilt and anxiety",
    ),
    Dimension(
        "lighting distinction",
        "there is no play of light and shadow: no obvious light effects or shadows can be seen",
        "with no obvious light effects or shadows",
        stat="contrast",
        direction=-1,
    ),
    Dimension(
        "main object",
        "the main object does not stand out: there is none, or it is too inconspicuous (small, at the edge and "
        "easy to overlook)",
        "with no main object, or one so small, peripheral and inconspicuous that it goes unnoticed",
    ),
    Dimension(
        "object pairing",
        "objects are paired without harmony: any noticeable mismatch of harmony, proportion or aesthetics, such "
        "as awkward pairings or a chaotic, discordant composition",
        "with awkwardly paired objects, mismatched in harmony, proportion and style, in a chaotic, discordant "
        "composition",
    ),
    Dimension(
        "richness",
        "the image is empty: it seems to lack clear intent or design and looks random or entirely unfinished",
        "empty, with no clear intent or design, random-looking or entirely unfinished",
    ),
)

DIMENSION_KEYS: tuple[str, ...] = tuple(d.key for d in DIMENSIONS)
assert list(DIMENSION_KEYS) == sorted(DIMENSION_KEYS), "canonical order is alphabetical"
BY_KEY: dict[str, Dimension] = {d.key: d for d in DIMENSIONS}


def dimension(key: str) -> Dimension:
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown dimension {key!r}; known: {', '.join(DIMENSION_KEYS)}") from None


# AVA anti-aesthetic photo taxonomy: 5 classes, 28 sub-classes (one-line meanings are ours).
AVA_CLASSES: dict[str, dict[str, str]] = {
    "clarity_and_focus": {
        "intentional_blur": "softness chosen on purpose (motion, shallow focus) to set a mood",
        "double_exposure": "several exposures stacked so subjects turn see-through",
        "film_artifacts": "heavy grain and a rough, imperfect emulsion look",
        "analog_degradation": "worn-tape look: scanlines, tracking errors, low-res decay",
        "digital_artifacts": "compression blocks, datamosh, aliasing used expressively",
        "bad_or_no_details": "fine detail missing or smudged so shapes never resolve",
    },
    "color_and_tone": {
        "clashing_disharmony": "colours that fight: garish combinations, things in wrong colours",
        "chromatic_aberration": "coloured fringes at hard edges, as from a poor lens",
        "muted_faded": "drained, washed-out or single-tint colour with a tired feel",
        "sickly_cast": "an unhealthy overall tint, like rot, illness or sodium light",
        "color_inconsistency": "colour that will not hold together: banding, mixed white balance",
    },
    "lighting_and_exposure": {
        "exposure_extremes": "far too dark or too bright, detail lost in shadow or highlight",
        "light_leak": "stray light bleeding in as bright streaks, like a faulty camera",
        "flat_lighting": "even, shadowless light that flattens the scene",
        "harsh_or_insufficient_flash": "hard hotspot flash or murky under-flash",
        "low_contrast_oppressive": "murky, low-contrast tones that feel heavy",
    },
    "composition_and_structure": {
        "unconventional_framing": "tilted horizons and off-kilter angles",
        "obstructed_cropping": "subject cut off by the frame or hidden behind something",
        "scale_inconsistency": "objects whose relative sizes contradict each other",
        "unconventional_scale": "subjects at an extreme or unexpected scale or distance",
        "amateur_snapshot_energy": "casual, unplanned point-and-shoot look",
    },
    "emotion_and_subject": {
        "negative_personal_emotion": "people visibly sad, angry, afraid or distressed",
        "atmospheric_distress": "a gloomy, uneasy atmosphere carried by place and mood",
        "decay_and_degradation": "worn-out, ruined, grimy or abandoned things and places",
        "disgust_and_aversion": "repellent matter: rot, filth, decay",
        "unfinished_raw": "work that shows its own rough, incomplete process",
        "abstract_photo": "subject unrecognisable; shape, colour or texture take over",
        "surrealism": "dreamlike combinations of things that cannot co-exist",
    },
}
assert sum(len(v) for v in AVA_CLASSES.values()) == 28

# The emotion studies contrast a happy face with three negative ones.
EMOTIONS: tuple[str, ...] = ("happy", "sad", "angry", "fearful")
NEGATIVE_EMOTIONS: tuple[str, ...] = EMOTIONS[1:]
