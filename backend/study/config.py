"""A user study as data: the StudyConfig read from a small YAML or JSON file, and the balanced task assignment."""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")    # study names: lower-case letters, digits, hyphens
TASK_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")              # no '.', so "<task>.<participant>" query ids split
TASK_TYPES = ("judge", "describe")
K_RANGE = (1, 50)
MAX_TEXT = 2000                                                  # a task's query / prompt text, in characters
MAX_CONSENT = 20000
DEFAULT_RANKERS = ("hicalm", "baseline")
DEFAULT_LABELS = ("not relevant", "somewhat relevant", "relevant", "highly relevant")
DESCRIBE_PROMPT = "Look at this metaverse, then write how you would search for it."

STUDY_KEYS = ("name", "title", "consent", "tasks", "rankers", "k", "scale", "room_judgements",
              "tasks_per_participant", "overlap", "seed")
TASK_KEYS = ("id", "type", "query", "target", "prompt")
SCALE_KEYS = ("min", "max", "labels")


@dataclass(frozen=True)
class Task:
    """One task: "judge" grades the results of a fixed query; "describe" shows the target metaverse, collects the
    participant's own query for it, and (optionally) has them grade the results of that query."""
    id: str
    type: str
    query: Optional[str] = None     # judge: the fixed query text
    target: Optional[str] = None    # describe: the metaverse id the participant describes
    prompt: Optional[str] = None    # optional instructions shown with the task

    def __post_init__(self):
        if not isinstance(self.id, str) or not TASK_ID.match(self.id):
            raise ValueError(f"task id {self.id!r} is not allowed: use 1-64 of a-z, 0-9, '-', '_' "
                             f"(starting with a letter or digit)")
        if self.type not in TASK_TYPES:
            raise ValueError(f"task {self.id!r}: type {self.type!r} is not one of {list(TASK_TYPES)}")
        if self.type == "judge":
            _text(self.query, f"task {self.id!r}: query", MAX_TEXT)
            if self.target is not None:
                raise ValueError(f"task {self.id!r}: a judge task has a query and no target (got target "
                                 f"{self.target!r}); use type 'describe' to collect queries for a target")
        else:
            if not isinstance(self.target, str) or not self.target.strip() or self.target != self.target.strip():
                raise ValueError(f"task {self.id!r}: a describe task needs target = a metaverse id, got "
                                 f"{self.target!r}")
            if self.query is not None:
                raise ValueError(f"task {self.id!r}: a describe task has no fixed query (the participant writes "
                                 f"it); got query {self.query!r}")
        if self.prompt is not None:
            _text(self.prompt, f"task {self.id!r}: prompt", MAX_TEXT)

    @property
    def instructions(self) -> str:
        return self.prompt or (DESCRIBE_PROMPT if self.type == "describe" else "Grade how well each result fits.")


@dataclass(frozen=True)
class Scale:
    """The grading scale: integer grades min..max, one label per grade."""
    min: int = 0
    max: int = 3
    labels: tuple[str, ...] = DEFAULT_LABELS

    def __post_init__(self):
        for key in ("min", "max"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 10:
                raise ValueError(f"scale.{key} = {v!r} is not allowed: an integer in 0..10")
        if self.max <= self.min:
            raise ValueError(f"scale.max = {self.max} must be greater than scale.min = {self.min}")
        labels = tuple(self.labels) if isinstance(self.labels, (list, tuple)) else self.labels
        n = self.max - self.min + 1
        if not isinstance(labels, tuple) or len(labels) != n:
            raise ValueError(f"scale.labels = {self.labels!r}: give exactly {n} labels, one per grade "
                             f"{self.min}..{self.max}")
        for label in labels:
            _text(label, "scale label", 100)
        object.__setattr__(self, "labels", labels)

    @property
    def grades(self) -> list[int]:
        return list(range(self.min, self.max + 1))


@dataclass(frozen=True)
class StudyConfig:
    """A study: who compares what, how, on which tasks, and how tasks are spread over participants."""
    name: str
    consent: str
    tasks: tuple[Task, ...]
    title: str = ""
    rankers: tuple[str, str] = DEFAULT_RANKERS
    k: int = 10
    scale: Scale = field(default_factory=Scale)
    room_judgements: bool = False
    tasks_per_participant: int = 0  # 0: every task
    overlap: int = 1
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not SLUG.match(self.name):
            raise ValueError(f"study name {self.name!r} is not a slug: use 1-64 of a-z, 0-9 and '-' "
                             f"(not starting or ending with '-')")
        _text(self.consent, "consent", MAX_CONSENT)
        if not isinstance(self.title, str) or len(self.title) > 200:
            raise ValueError(f"title {self.title!r} is not allowed: a string of at most 200 characters")
        if not self.title:
            object.__setattr__(self, "title", self.name)
        tasks = tuple(self.tasks) if isinstance(self.tasks, (list, tuple)) else None
        if not tasks:
            raise ValueError(f"tasks = {self.tasks!r}: give a non-empty list of tasks")
        if not all(isinstance(t, Task) for t in tasks):
            raise ValueError("tasks must be Task objects (load_study builds them from the file)")
        seen: set[str] = set()
        for t in tasks:
            if t.id in seen:
                raise ValueError(f"duplicate task id {t.id!r}: every task id must be unique")
            seen.add(t.id)
        object.__setattr__(self, "tasks", tasks)
        rankers = tuple(self.rankers) if isinstance(self.rankers, (list, tuple)) else None
        if (rankers is None or len(rankers) != 2 or not all(isinstance(r, str) and r.strip() for r in rankers)
                or rankers[0] == rankers[1]):
            raise ValueError(f"rankers = {self.rankers!r}: give exactly two different ranker names, "
                             f"e.g. {list(DEFAULT_RANKERS)}")
        object.__setattr__(self, "rankers", rankers)
        if not isinstance(self.k, int) or isinstance(self.k, bool) or not K_RANGE[0] <= self.k <= K_RANGE[1]:
            raise ValueError(f"k = {self.k!r} is not allowed: an integer in {K_RANGE[0]}..{K_RANGE[1]}")
        if not isinstance(self.scale, Scale):
            raise ValueError(f"scale = {self.scale!r}: give a Scale (min, max, labels)")
        if not isinstance(self.room_judgements, bool):
            raise ValueError(f"room_judgements = {self.room_judgements!r}: give true or false")
        n = len(tasks)
        tpp = self.tasks_per_participant
        if not isinstance(tpp, int) or isinstance(tpp, bool) or not 0 <= tpp <= n:
            raise ValueError(f"tasks_per_participant = {tpp!r} is not allowed: an integer in 1..{n} "
                             f"(the number of tasks), or 0 for all of them")
        if tpp == 0:
            object.__setattr__(self, "tasks_per_participant", n)
        if not isinstance(self.overlap, int) or isinstance(self.overlap, bool) or self.overlap < 1:
            raise ValueError(f"overlap = {self.overlap!r} is not allowed: an integer >= 1 (participants per task)")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed = {self.seed!r} is not allowed: an integer")

    @property
    def task_ids(self) -> list[str]:
        return [t.id for t in self.tasks]

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        from backend.study.errors import UnknownError
        raise UnknownError(f"unknown task {task_id!r:.80} in study {self.name!r}; tasks: {self.task_ids}")

    @property
    def participants_needed(self) -> int:
        """Participants after which every task has reached its overlap: ceil(overlap * T / tasks_per_participant)."""
        return math.ceil(self.overlap * len(self.tasks) / self.tasks_per_participant)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tasks"] = [{k: v for k, v in t.items() if v is not None} for t in d["tasks"]]
        d["rankers"], d["scale"]["labels"] = list(self.rankers), list(self.scale.labels)
        return d


def _text(value: Any, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValueError(f"{what} = {value!r:.80} is not allowed: non-empty text of at most {max_len} characters")
    return value


def _check_keys(d: Any, allowed: Iterable[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise ValueError(f"{where} must be a mapping, got {type(d).__name__}")
    unknown = sorted(set(map(str, d)) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {list(allowed)}")
    return d


def study_from_dict(d: Any, where: str = "study") -> StudyConfig:
    """Build and validate a StudyConfig from plain data (the parsed file)."""
    d = dict(_check_keys(d, STUDY_KEYS, where))
    for key in ("name", "consent", "tasks"):
        if key not in d:
            raise ValueError(f"{where}: missing required key {key!r}")
    tasks_raw = d.pop("tasks")
    if not isinstance(tasks_raw, list) or not tasks_raw:
        raise ValueError(f"{where}: tasks must be a non-empty list, got {tasks_raw!r:.80}")
    tasks = []
    for i, t in enumerate(tasks_raw):
        t = _check_keys(t, TASK_KEYS, f"{where}: tasks[{i}]")
        if "id" not in t or "type" not in t:
            raise ValueError(f"{where}: tasks[{i}] needs an id and a type ({' or '.join(TASK_TYPES)})")
        tasks.append(Task(**t))
    if "scale" in d:
        d["scale"] = Scale(**_check_keys(d["scale"], SCALE_KEYS, f"{where}: scale"))
    return StudyConfig(tasks=tuple(tasks), **d)


def load_study(path, metaverse_ids: Optional[Iterable[str]] = None) -> StudyConfig:
    """Read a study from .yaml/.yml or .json; with metaverse_ids, also check every describe target exists."""
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise ValueError(f"study file {path} must end in .yaml, .yml or .json")
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"study file {path} does not exist") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            import yaml
            data = yaml.safe_load(raw)
    except Exception as e:  # yaml.YAMLError / json.JSONDecodeError: name the file, keep the parser's message
        raise ValueError(f"study file {path} does not parse: {e}") from None
    config = study_from_dict(data, where=str(path))
    if metaverse_ids is not None:
        known = set(metaverse_ids)
        missing = [t.target for t in config.tasks if t.type == "describe" and t.target not in known]
        if missing:
            raise ValueError(f"{path}: describe target(s) {missing} are not metaverses of the collection")
    return config


def assign_tasks(config: StudyConfig, participant_index: int) -> list[str]:
    """The task ids of the participant_index-th participant (0-based), in presentation order. Deterministic.

    Slots are dealt in order: participant i takes the t = tasks_per_participant consecutive slots i*t .. i*t+t-1 of
    an endless sequence that walks through a permutation of the T tasks, wrapping around. A "round" is the
    L = T / gcd(T, t) participants that fill lcm(T, t) slots, i.e. every task exactly lcm/T times; each round walks
    its own permutation, drawn from config.seed and the round number, so which tasks share a participant changes
    from round to round. Because the dealt slots are always a prefix of whole rounds plus a contiguous run of one
    round's cycle, after N participants every task has been assigned floor(N*t/T) or ceil(N*t/T) times, and every
    task reaches its overlap once N >= config.participants_needed = ceil(overlap*T/t). t <= T keeps a participant's
    t tasks distinct. The presentation order is rotated by i mod t (a Latin-square-like rotation), so within a round
    no task sits in the same position for everyone.
    """
    if not isinstance(participant_index, int) or isinstance(participant_index, bool) or participant_index < 0:
        raise ValueError(f"participant_index = {participant_index!r} is not allowed: an integer >= 0")
    ids = config.task_ids
    n, t = len(ids), config.tasks_per_participant
    per_round = n // math.gcd(n, t)
    rnd, pos = divmod(participant_index, per_round)
    perm = random.Random(f"study:{config.name}:{config.seed}:{rnd}").sample(ids, n)
    chosen = [perm[(pos * t + j) % n] for j in range(t)]
    shift = participant_index % t
    return chosen[shift:] + chosen[:shift]
