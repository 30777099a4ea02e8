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
              "tasks_per_participant", "overlap", "seed", "show_titles", "completion_code", "completion_url",
              "practice", "attention_checks", "questions")
TASK_KEYS = ("id", "type", "query", "target", "prompt")
SCALE_KEYS = ("min", "max", "labels")
PRACTICE_KEYS = ("query", "items", "prompt")
PRACTICE_ITEM_KEYS = ("id", "grade", "why")
CHECK_KEYS = ("task", "metaverse", "expect", "position")
CHECK_EXPECT = ("irrelevant", "relevant")
QUESTION_KEYS = ("id", "text")
CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")                       # a crowd platform's completion code
URL = re.compile(r"^https?://[^\s<>\"'`]{1,500}$")
NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                            "thirteen fourteen fifteen sixteen seventeen eighteen nineteen "
                                            "twenty".split())}
# "<number> [up to two words] task(s)" in the consent text: what it promises each participant
PROMISE = re.compile(r"\b(\d+|" + "|".join(NUMBER_WORDS) + r")\s+(?:[\w-]+\s+){0,2}?tasks?\b", re.IGNORECASE)


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
class PracticeItem:
    """One result of the practice task with the grade it deserves and why (shown after the participant grades)."""
    id: str
    grade: int
    why: str = ""


@dataclass(frozen=True)
class Practice:
    """A practice task before the real ones: a fixed query and results whose answers are known. Its grades are
    compared with those answers on the page and never stored as judgements."""
    query: str
    items: tuple[PracticeItem, ...]
    prompt: str = "Practice: grade how well each result fits the search; then we show the grades we expected."

    def __post_init__(self):
        _text(self.query, "practice.query", MAX_TEXT)
        _text(self.prompt, "practice.prompt", MAX_TEXT)
        items = tuple(self.items) if isinstance(self.items, (list, tuple)) else ()
        if not 1 <= len(items) <= 10 or not all(isinstance(i, PracticeItem) for i in items):
            raise ValueError(f"practice.items = {self.items!r:.80}: give 1-10 items, each {{id, grade, why}}")
        if len({i.id for i in items}) != len(items):
            raise ValueError("practice.items repeats a metaverse id")
        for i in items:
            if not isinstance(i.why, str) or len(i.why) > MAX_TEXT:
                raise ValueError(f"practice item {i.id!r}: why must be text of at most {MAX_TEXT} characters")
        object.__setattr__(self, "items", items)


@dataclass(frozen=True)
class AttentionCheck:
    """A planted result in one judge task's list: an obviously irrelevant one (passed when graded at the scale's
    minimum) or an obviously relevant one (passed at the top two grades). `position`: its place, from 1."""
    task: str
    metaverse: str
    expect: str = "irrelevant"
    position: int = 3

    def __post_init__(self):
        if self.expect not in CHECK_EXPECT:
            raise ValueError(f"attention check in task {self.task!r}: expect = {self.expect!r} is not one of "
                             f"{list(CHECK_EXPECT)}")
        if not isinstance(self.metaverse, str) or not self.metaverse.strip():
            raise ValueError(f"attention check in task {self.task!r}: metaverse = {self.metaverse!r} is not a "
                             f"metaverse id")
        if not isinstance(self.position, int) or isinstance(self.position, bool) or not 1 <= self.position <= 51:
            raise ValueError(f"attention check in task {self.task!r}: position = {self.position!r} is not an "
                             f"integer in 1..51")

    def passed(self, grade: int, scale: "Scale") -> bool:
        return grade <= scale.min if self.expect == "irrelevant" else grade >= scale.max - 1


@dataclass(frozen=True)
class Question:
    """A question asked once every task is done; the answer is free text and may be left empty."""
    id: str
    text: str

    def __post_init__(self):
        if not isinstance(self.id, str) or not TASK_ID.match(self.id):
            raise ValueError(f"question id {self.id!r} is not allowed: use 1-64 of a-z, 0-9, '-', '_'")
        _text(self.text, f"question {self.id!r}: text", MAX_TEXT)


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
    tasks_per_participant: Any = 0  # 0: every task; an int, or {kind: count} (see _per_kind)
    overlap: int = 1
    seed: int = 0
    show_titles: bool = True        # false: results show only images and (on demand) descriptions
    completion_code: Optional[str] = None   # shown when a participant has finished (crowd platforms)
    completion_url: Optional[str] = None    # where "Return to the platform" goes then
    practice: Optional[Practice] = None
    attention_checks: tuple[AttentionCheck, ...] = ()
    questions: tuple[Question, ...] = ()

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
        object.__setattr__(self, "per_kind", self._per_kind(tasks))
        object.__setattr__(self, "tasks_per_participant", sum(self.per_kind.values()))
        if not isinstance(self.overlap, int) or isinstance(self.overlap, bool) or self.overlap < 1:
            raise ValueError(f"overlap = {self.overlap!r} is not allowed: an integer >= 1 (participants per task)")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed = {self.seed!r} is not allowed: an integer")
        if not isinstance(self.show_titles, bool):
            raise ValueError(f"show_titles = {self.show_titles!r}: give true or false")
        code = self.completion_code
        if code is not None and (not isinstance(code, str) or not CODE.match(code)):
            raise ValueError(f"completion_code = {code!r:.80} is not allowed: 1-64 of A-Z, a-z, 0-9, '-', '_'")
        url = self.completion_url
        if url is not None and (not isinstance(url, str) or not URL.match(url)):
            raise ValueError(f"completion_url = {url!r:.80} is not allowed: an http(s) URL without spaces or quotes")
        if self.practice is not None:
            if not isinstance(self.practice, Practice):
                raise ValueError("practice must be a Practice (load_study builds it from the file)")
            for item in self.practice.items:
                _grade(item.grade, f"practice item {item.id!r}: grade", self.scale)
        checks = tuple(self.attention_checks or ())
        if not all(isinstance(c, AttentionCheck) for c in checks):
            raise ValueError("attention_checks must be AttentionCheck objects (load_study builds them)")
        judge = {t.id for t in tasks if t.type == "judge"}
        seen: set[str] = set()
        for c in checks:
            if c.task not in judge:
                raise ValueError(f"attention check: task {c.task!r} is not a judge task of this study "
                                 f"({sorted(judge)})")
            if c.task in seen:
                raise ValueError(f"attention check: task {c.task!r} has two checks; plant at most one per task")
            seen.add(c.task)
            if c.position > self.k + 1:
                raise ValueError(f"attention check in task {c.task!r}: position {c.position} is past the list "
                                 f"(k = {self.k}, so at most {self.k + 1})")
        object.__setattr__(self, "attention_checks", checks)
        questions = tuple(self.questions or ())
        if not all(isinstance(q, Question) for q in questions) or len({q.id for q in questions}) != len(questions):
            raise ValueError("questions must be Question objects with distinct ids")
        object.__setattr__(self, "questions", questions)
        self.check_consent()

    def _per_kind(self, tasks) -> dict:
        """{kind: tasks of that kind each participant gets}, from tasks_per_participant: 0 (every task), an int
        (split over the kinds in proportion, which must come out whole) or {kind: count}."""
        n = len(tasks)
        have = {k: sum(t.type == k for t in tasks) for k in TASK_TYPES if any(t.type == k for t in tasks)}
        tpp = self.tasks_per_participant
        if isinstance(tpp, dict):
            unknown = sorted(set(map(str, tpp)) - set(have))
            if unknown:
                raise ValueError(f"tasks_per_participant names kind(s) {unknown} that no task has; kinds here: "
                                 f"{sorted(have)}")
            out = {}
            for kind, total in have.items():
                v = tpp.get(kind, 0)
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= total:
                    raise ValueError(f"tasks_per_participant.{kind} = {v!r} is not allowed: an integer in "
                                     f"0..{total} (the {kind} tasks there are)")
                if v:
                    out[kind] = v
            if not out:
                raise ValueError("tasks_per_participant gives every kind 0 tasks: give each participant at least one")
            return out
        if not isinstance(tpp, int) or isinstance(tpp, bool) or not 0 <= tpp <= n:
            raise ValueError(f"tasks_per_participant = {tpp!r} is not allowed: an integer in 1..{n} "
                             f"(the number of tasks), or 0 for all of them")
        if tpp in (0, n):
            return dict(have)
        split = {k: tpp * c / n for k, c in have.items()}
        if any(v != int(v) for v in split.values()):
            example = ", ".join(f"{k}: {max(1, round(v))}" for k, v in split.items())
            raise ValueError(f"tasks_per_participant = {tpp} does not split into whole tasks of each kind "
                             f"({', '.join(f'{c} {k}' for k, c in have.items())} tasks): give a count per kind, "
                             f"e.g. {{{example}}}")
        return {k: int(v) for k, v in split.items() if v}

    def promise(self) -> str:
        """What each participant gets, in words, e.g. '4 tasks: 3 judge, 1 describe'."""
        parts = ", ".join(f"{c} {k}" for k, c in self.per_kind.items())
        return f"{self.tasks_per_participant} tasks" + (f": {parts}" if len(self.per_kind) > 1 else "")

    def check_consent(self) -> None:
        """Every '<number> ... task(s)' in the consent text must be a count this config gives each participant (the
        total or one kind's count), else ValueError quoting the phrase. A phrase naming the practice is skipped."""
        counts = {self.tasks_per_participant, *self.per_kind.values()}
        for m in PROMISE.finditer(self.consent):
            word = m.group(1).lower()
            said = int(word) if word.isdigit() else NUMBER_WORDS[word]
            if said not in counts and "practice" not in m.group(0).lower():
                raise ValueError(f"the consent text says {m.group(0)!r} but each participant gets "
                                 f"{self.promise()}: make the consent and tasks_per_participant agree")

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
        """Participants after which every task has reached its overlap: over the kinds, the most of
        ceil(overlap * tasks of the kind / tasks of the kind per participant)."""
        return max(math.ceil(self.overlap * sum(t.type == kind for t in self.tasks) / c)
                   for kind, c in self.per_kind.items())

    def check_for(self, task_id: str) -> Optional[AttentionCheck]:
        """The attention check planted in this task's list, if any."""
        return next((c for c in self.attention_checks if c.task == task_id), None)

    def metaverse_refs(self) -> list[tuple[str, str]]:
        """(where, metaverse id) for every id the config names: describe targets, practice items, planted checks."""
        out = [(f"describe task {t.id!r}", t.target) for t in self.tasks if t.type == "describe"]
        out += [("practice", i.id) for i in (self.practice.items if self.practice else ())]
        out += [(f"attention check in {c.task!r}", c.metaverse) for c in self.attention_checks]
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tasks"] = [{k: v for k, v in t.items() if v is not None} for t in d["tasks"]]
        d["rankers"], d["scale"]["labels"] = list(self.rankers), list(self.scale.labels)
        d["tasks_per_participant"] = dict(self.per_kind)
        d.pop("per_kind", None)
        return d


def _text(value: Any, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValueError(f"{what} = {value!r:.80} is not allowed: non-empty text of at most {max_len} characters")
    return value


def _grade(value: Any, what: str, scale: Scale) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not scale.min <= value <= scale.max:
        raise ValueError(f"{what} = {value!r} is not allowed: a grade in {scale.min}..{scale.max}")
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
    if d.get("practice") is not None:
        p = dict(_check_keys(d["practice"], PRACTICE_KEYS, f"{where}: practice"))
        if "query" not in p or not isinstance(p.get("items"), list):
            raise ValueError(f"{where}: practice needs a query and items, a list of {{id, grade, why}}")
        p["items"] = tuple(PracticeItem(**_check_keys(i, PRACTICE_ITEM_KEYS, f"{where}: practice.items[{n}]"))
                           for n, i in enumerate(p["items"]))
        d["practice"] = Practice(**p)
    for key, cls, keys, need in (("attention_checks", AttentionCheck, CHECK_KEYS, ("task", "metaverse")),
                                 ("questions", Question, QUESTION_KEYS, ("id", "text"))):
        raw = d.get(key)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise ValueError(f"{where}: {key} must be a list")
        items = []
        for n, item in enumerate(raw):
            item = _check_keys(item, keys, f"{where}: {key}[{n}]")
            missing = [k for k in need if k not in item]
            if missing:
                raise ValueError(f"{where}: {key}[{n}] needs {missing}")
            items.append(cls(**item))
        d[key] = tuple(items)
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
        missing = [f"{mid} ({where})" for where, mid in config.metaverse_refs() if mid not in known]
        if missing:
            raise ValueError(f"{path}: {', '.join(missing)} are not metaverses of the collection")
    return config


def assign_tasks(config: StudyConfig, participant_index: int) -> list[str]:
    """The task ids of the participant_index-th participant (0-based), in presentation order. Deterministic.
    Each kind of task (judge, describe) is dealt separately as below, with that kind's count from config.per_kind,
    so every participant gets the same mix; the kinds' picks are then joined and rotated together.

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
    chosen = []
    for kind, t in config.per_kind.items():    # each kind dealt on its own, so everyone gets the promised mix
        ids = [task.id for task in config.tasks if task.type == kind]
        n = len(ids)
        per_round = n // math.gcd(n, t)
        rnd, pos = divmod(participant_index, per_round)
        salt = "" if len(config.per_kind) == 1 else f":{kind}"
        perm = random.Random(f"study:{config.name}:{config.seed}:{rnd}{salt}").sample(ids, n)
        chosen += [perm[(pos * t + j) % n] for j in range(t)]
    t = len(chosen)
    shift = participant_index % t
    return chosen[shift:] + chosen[:shift]
