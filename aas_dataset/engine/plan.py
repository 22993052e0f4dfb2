"""What a build plans and reports: each stage's units and models (`Plan`), and the outcome
(`BuildReport`). Its own module so the assembly reads them without importing the builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.executors import StageStats
from aas_dataset.engine.stages.base import Stage, Unit
from aas_dataset.engine.store import Store


class BuildContext(Protocol):
    """What the assembly needs of a build: its recipe, store and output folder."""

    recipe: object
    store: Store
    out: Path


@dataclass
class StagePlan:
    stage: Stage
    units: list[Unit]
    models: dict[str, ResolvedModel]

    def key_of(self) -> dict[tuple[str, str], str]:
        """(model, owner unit key) -> unit key, for a stage that attaches to another's rows."""
        return {(u.group, u.payload[self.stage.JOIN]): u.key for u in self.units}


class Plan:
    """Every stage's units and models, in run order; `plan[ScoreStage]` is that stage's plan."""

    def __init__(self, stages: list[StagePlan]):
        self.stages = stages

    def __iter__(self):
        return iter(self.stages)

    def __getitem__(self, stage_cls: type[Stage]) -> StagePlan:
        if isinstance(stage_cls, int | slice):  # plan[0]: by position, in run order
            return self.stages[stage_cls]
        for sp in self.stages:
            if type(sp.stage) is stage_cls:  # exact: a study's stage may subclass a paired one
                return sp
        raise KeyError(stage_cls.__name__)

    def has(self, stage_cls: type[Stage]) -> bool:
        return any(type(sp.stage) is stage_cls for sp in self.stages)

    def owner(self, config: str) -> StagePlan:
        """The stage whose units are the rows of `config`."""
        return next(sp for sp in self.stages if config in sp.stage.OWNS)

    def attached(self, config: str) -> list[StagePlan]:
        """The stages that add columns to the rows of `config`, in run order."""
        return [sp for sp in self.stages if config in sp.stage.ATTACHES]

    @property
    def configs(self) -> list[str]:
        return [c for sp in self.stages for c in sp.stage.OWNS]


@dataclass
class BuildReport:
    stats: list[StageStats] = field(default_factory=list)
    assembled: bool = False  # False: the release on disk was already up to date (or kept)
    manifest: dict | None = None
    # why the release on disk was kept instead of being replaced by one with fewer rows
    kept: str | None = None
    hydrated: object = None  # engine.hydrate.Hydrated, with --from

    @property
    def model_calls(self) -> int:
        return sum(s.calls for s in self.stats)

    @property
    def failures(self) -> list[dict]:
        return [f for s in self.stats for f in s.failures]
