"""The benchmark's vocabularies: the 11 aesthetic dimensions, the AVA photo taxonomy, emotions.

Dimension keys are VisionReward's generation subset. Their canonical order is alphabetical;
every per-dimension vector in the data (rater scores, predictions) uses this order.
Descriptions are ours: each one says what the deliberately "bad" pole of the dimension looks
like, and `phrase` is the clause the offline template rewriter appends to a caption.
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
        "the background is absent, crude or unattractive",
        "set against a bare, shabby, badly rendered background",
    ),
    Dimension(
        "clarity",
        "the picture is visibly blurred, noisy or smeared",
        "heavily blurred and out of focus, with smeared noisy edges",
        stat="sharpness",
        direction=-1,
    ),
    Dimension(
        "color aesthetic",
        "colours clash or feel sickly, garish or badly chosen",
        "in clashing, garish, sickly colours that fight each other",
    ),
    Dimension(
        "color brightness",
        "the overall colour reads as dim and dark",
        "very dark and underexposed, the whole scene sunk in gloom",
        stat="brightness",
        direction=-1,
    ),
    Dimension(
        "detail realism",
        "details contradict reality, warped or deformed even at a glance",
        "with warped, deformed, physically impossible details",
    ),
    Dimension(
        "detail refinement",
        "key elements are crude, unfinished or broken apart",
        "crudely made, with unfinished, shattered key elements",
    ),
    Dimension(
        "emotion",
        "the image evokes negative feelings: eerie, hostile, sad, lonely, anxious",
        "with an eerie, lonely, anxious and joyless mood",
    ),
    Dimension(
        "lighting distinction",
        "there is no visible play of light and shadow",
        "under flat, shadowless light with no visible light effects",
        stat="contrast",
        direction=-1,
    ),
    Dimension(
        "main object",
        "no clear subject, or the subject is tiny, off to the side, easy to miss",
        "with the subject tiny, pushed to the edge and easy to miss",
    ),
    Dimension(
        "object pairing",
        "things do not fit together in kind or proportion; the layout is jumbled",
        "with mismatched objects at clashing scales in a jumbled layout",
    ),
    Dimension(
        "richness",
        "the scene looks empty and aimless, as if abandoned half-done",
        "in an empty, aimless composition that looks abandoned half-done",
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
