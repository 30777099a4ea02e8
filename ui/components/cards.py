"""Result JSON -> HTML: metaverse cards (rooms, attribution bars, matched images, frame timelines), room-level matches
grouped by query part, the status line and the active query. Everything from a person or the data is escaped."""
from __future__ import annotations

import html
from typing import Any

from backend.data.kinds import FILTER_LABELS, IMAGE_NOUN, KIND_FILTERS, KIND_LABELS, ROOM_NOUN
from backend.search.results import thumb_url

PAGE_SIZE = 10          # cards per page
KIND_CHOICES = [(FILTER_LABELS[k], k) for k in KIND_FILTERS]   # the kind filter's choices in every tab
THUMBS_PER_ROOM = 4     # thumbnails shown per room; the rest are counted
FOLD_BELOW = 0.03       # rooms that carried less than this share fold away under "N more rooms"
MAX_QUERY_SHOWN = 80    # characters of a query echoed in the status line (cut after escaping-safe slicing)
READING_SHOWN = 3       # spans of a "Read as" line shown before it folds ("show all N")
READING_CHARS = 90      # ... or fewer, when the spans are long: the folded line stays about one line
MATCHES_SHOWN = 3       # room matches shown per query part; the rest fold, so every part's rooms show at once
DETAIL_SIZE = 256       # pixels of the images in the detail view (a size the thumbnail route renders)

SEARCH_ICON = ('<svg class="mv-icon" viewBox="0 0 24 24" width="40" height="40" aria-hidden="true" fill="none" '
               'stroke="currentColor" stroke-width="2" stroke-linecap="round"><circle cx="10.5" cy="10.5" r="6.5"/>'
               '<path d="M15.5 15.5 21 21"/></svg>')
PLACEHOLDER_HTML = (
    f'<div class="mv-empty">{SEARCH_ICON}'
    "<p>Describe a metaverse, drop an image, or pick an example to start.</p>"
    '<p class="mv-muted">Click any thumbnail in the results to search for more like it.</p></div>'
)
NO_MATCHES_HTML = '<div class="mv-empty mv-empty-small"><p class="mv-muted">Room-level matches appear here.</p></div>'


def e(value: Any) -> str:
    """Escape for HTML text and attributes."""
    return html.escape(str(value), quote=True)


def clip(text: str, n: int = MAX_QUERY_SHOWN) -> str:
    """The first n characters of a plain text, escaped after cutting (so no entity or tag is ever cut open)."""
    text = str(text)
    return e(text[:n]) + ("…" if len(text) > n else "")


def badge(kind: str) -> str:
    return f'<span class="mv-badge mv-badge-{e(kind)}">{e(KIND_LABELS.get(kind, kind))}</span>'


def _pct(x: Any) -> int:
    try:
        return round(100 * max(0.0, min(1.0, float(x))))
    except (TypeError, ValueError):
        return 0


def _thumb(image: dict | None, alt: str, css_class: str = "mv-thumb", best: bool = False, size: int = 64) -> str:
    """An image that searches for more like it when clicked, or focused and Enter pressed (clicks.CLICKS_JS)."""
    if not image or not image.get("url"):
        return ""
    mark = " mv-thumb-best" if best else ""
    url = image["url"] + (f"?size={size}" if size != 64 else "")
    return (f'<img class="{css_class}{mark}" src="{e(url)}" alt="{e(alt)}" data-key="{e(image["key"])}" '
            f'title="More like this" loading="lazy" width="{size}" height="{size}" tabindex="0" role="button">')


def _timeline(images: list[dict], best: int | None) -> str:
    """Frame scores along a game segment: one bar per frame, the best moment marked."""
    scores = [im.get("score") for im in images]
    if not scores or any(s is None for s in scores):
        return ""
    lo, hi = min(scores), max(scores)
    span = (hi - lo) or 1.0
    bars = "".join(
        f'<span class="mv-tl-bar{" mv-tl-best" if best == i + 1 else ""}" style="height:{20 + round(80 * (s - lo) / span)}%"'
        f' title="frame {i + 1}: {s:.2f}"></span>' for i, s in enumerate(scores))
    where = f"best moment: frame {best} of {len(scores)}" if best else ""
    return (f'<div class="mv-timeline" role="img" aria-label="frame scores along the segment; {e(where)}">{bars}</div>'
            f'<div class="mv-tl-label">{e(where)}</div>')


def _room(hit: dict, room: dict) -> str:
    kind = hit.get("kind", "museum")
    noun = ROOM_NOUN.get(kind, "room").capitalize()
    number = int(room.get("number", 0))
    best_room = number == hit.get("best_room")
    pct = _pct(room.get("contribution"))
    images = room.get("images") or []
    best_image = room.get("best_image")
    shown = images[:THUMBS_PER_ROOM]
    if best_image and best_image > THUMBS_PER_ROOM:   # always show the image that matched most
        shown = images[:THUMBS_PER_ROOM - 1] + [images[best_image - 1]]
    thumbs = [_thumb(im, f"{room.get('title', '')}, {IMAGE_NOUN.get(kind, 'image')} {im['key'].rsplit('/', 1)[-1]}",
                     best=(im is images[best_image - 1]) if best_image else False) for im in shown]
    thumbs = [t for t in thumbs if t]
    if thumbs:
        extra = len(images) - len(shown)
        more = f'<span class="mv-more">+{extra}</span>' if extra > 0 else ""
        body = f'<div class="mv-thumbs">{"".join(thumbs)}{more}</div>'
        if kind == "game":
            body += _timeline(images, best_image)
        elif best_image:
            body += f'<div class="mv-tl-label">best match: {IMAGE_NOUN["museum"]} {int(best_image)}</div>'
    else:  # real data without images: the paragraph (if asked for) stands in for the views
        body = f'<p class="mv-room-text">{e(room.get("paragraph", ""))}</p>' if room.get("paragraph") else ""
    tag = '<span class="mv-best-tag">best match</span>' if best_room else ""
    return (
        f'<div class="mv-room{" mv-room-best" if best_room else ""}">'
        f'<div class="mv-room-head"><span class="mv-room-idx">{e(noun)} {number}</span>{tag}</div>'
        f'<div class="mv-room-title" title="{e(room.get("title", ""))}">{e(room.get("title", ""))}</div>{body}'
        f'<div class="mv-bar" title="room similarity {float(room.get("score") or 0):.2f}">'
        f'<div class="mv-bar-fill" style="width:{pct}%"></div></div>'
        f'<div class="mv-bar-label">carried {pct} %</div></div>'
    )


def like_button(mid: str, liked: bool) -> str:
    """The ♥ toggle of a metaverse (written into the likes by the tab's click handler)."""
    state = "true" if liked else "false"
    label = "Unlike" if liked else "Like"
    return (f'<button type="button" class="mv-like" data-like="{e(mid)}" aria-pressed="{state}" '
            f'aria-label="{label} {e(mid)}" title="{label}: recommendations start from what you like">♥</button>')


def more_button(mid: str) -> str:
    return (f'<button type="button" class="mv-more-like" data-more="{e(mid)}" title="Recommendations seeded by this '
            f'metaverse alone">More like this metaverse</button>')


def details_button(mid: str, title: str) -> str:
    return (f'<button type="button" class="mv-details-btn" data-detail="{e(mid)}" '
            f'aria-label="Details of {e(title)}: every room, large images, the description">Details</button>')


def render_card(hit: dict, liked: frozenset = frozenset()) -> str:
    rooms = hit.get("rooms") or []
    shown = [r for r in rooms if (r.get("contribution") or 0) >= FOLD_BELOW or r.get("number") == hit.get("best_room")]
    folded = [r for r in rooms if r not in shown]
    rooms_html = "".join(_room(hit, r) for r in shown)
    if folded:
        noun = ROOM_NOUN.get(hit.get("kind", ""), "room") + ("s" if len(folded) > 1 else "")
        rooms_html += (f'<details class="mv-fold"><summary>{len(folded)} more {e(noun)} that carried under '
                       f'{round(100 * FOLD_BELOW)} %</summary><div class="mv-rooms">'
                       f'{"".join(_room(hit, r) for r in folded)}</div></details>')
    best = next((r for r in rooms if r.get("number") == hit.get("best_room")), None)
    why = ""
    if best is not None:
        noun = ROOM_NOUN.get(hit.get("kind", ""), "room").capitalize()
        why = (f'<p class="mv-why">{e(noun)} {int(best["number"])} · {e(best.get("title", ""))} carried '
               f'{_pct(best.get("contribution"))} % of this match</p>')
    score = float(hit.get("score") or 0)
    mid, title = hit.get("id", ""), hit.get("title", hit.get("id", ""))
    return (
        f'<article class="mv-card" data-id="{e(mid)}">'
        f'<header class="mv-card-head"><span class="mv-rank">#{int(hit.get("rank", 0))}</span>'
        f'<h3 class="mv-title"><button type="button" class="mv-title-btn" data-detail="{e(mid)}" '
        f'title="Open the details: every room, large images, the description">{e(title)}</button></h3>'
        f'{badge(hit.get("kind", ""))}'
        f'<span class="mv-score" title="ranking score (cosine scale); metaverse alone '
        f'{float(hit.get("metaverse_score") or 0):.3f}">{score:.3f}</span>'
        f'{like_button(mid, mid in liked)}</header>'
        f'{why}{render_reading(hit)}<div class="mv-rooms">{rooms_html}</div>'
        f'<div class="mv-card-foot">{details_button(mid, title)}{more_button(mid)}</div></article>'
    )


def render_detail(hit: dict, liked: bool = False) -> str:
    """The detail view of one hit (a dialog over the page): its description's intro, then every room in order with
    its paragraph and all its images large; an image searches for more like it, like the thumbnails."""
    kind = hit.get("kind", "museum")
    noun = ROOM_NOUN.get(kind, "room").capitalize()
    mid, title = hit.get("id", ""), hit.get("title", hit.get("id", ""))
    rooms = []
    for room in sorted(hit.get("rooms") or [], key=lambda r: int(r.get("number", 0))):
        number = int(room.get("number", 0))
        images = room.get("images") or []
        imgs = "".join(_thumb(im, f"{room.get('title', '')}, {IMAGE_NOUN.get(kind, 'image')} {i + 1}: search for more "
                                  f"like it", "mv-detail-img", best=room.get("best_image") == i + 1, size=DETAIL_SIZE)
                       for i, im in enumerate(images))
        paragraph = f'<p class="mv-detail-par">{e(room["paragraph"])}</p>' if room.get("paragraph") else ""
        best = '<span class="mv-best-tag">best match</span>' if number == hit.get("best_room") else ""
        rooms.append(f'<section class="mv-detail-room"><h4>{e(noun)} {number} · {e(room.get("title", ""))} {best}'
                     f'<span class="mv-detail-share">carried {_pct(room.get("contribution"))} %</span></h4>'
                     f'{paragraph}<div class="mv-detail-images">{imgs}</div></section>')
    intro = f'<p class="mv-detail-intro">{e(hit["intro"])}</p>' if hit.get("intro") else ""
    return (
        f'<div class="mv-detail-wrap" data-id="{e(mid)}"><div class="mv-detail-backdrop" data-close-detail></div>'
        f'<section class="mv-detail" role="dialog" aria-modal="true" aria-labelledby="mv-detail-title">'
        f'<header class="mv-detail-head"><h3 id="mv-detail-title">{e(title)}</h3>{badge(kind)}'
        f'<span class="mv-score">{float(hit.get("score") or 0):.3f}</span>{like_button(mid, liked)}'
        f'<button type="button" class="mv-detail-close" data-close-detail aria-label="Close the details">✕</button>'
        f'</header>{intro}{render_reading(hit, fold=False)}'
        f'<p class="mv-muted">Click an image (or focus it and press Enter) to search for more like it.</p>'
        f'{"".join(rooms)}<footer class="mv-card-foot">{more_button(mid)}</footer></section></div>'
    )


def render_reading(hit: dict, fold: bool = True) -> str:
    """How this hit read a short query that named several rooms: each span of words and the room answering it. A
    long reading folds to its first spans, "show all N" opens it."""
    reading = hit.get("reading") or []
    if len(reading) < 2:
        return ""
    noun = ROOM_NOUN.get(hit.get("kind", ""), "room")
    spans = [f'“{clip(s.get("text", ""), 40)}” → {e(noun)} {int(s.get("room", 0))}' for s in reading]
    why = "the cut of the query into rooms that this metaverse answers best"
    lead, chars = [], 0
    for span, s in zip(spans, reading):
        chars += len(str(s.get("text", ""))) + 12
        if lead and (len(lead) >= READING_SHOWN or chars > READING_CHARS):
            break
        lead.append(span)
    if not fold or len(lead) == len(spans):
        return f'<p class="mv-reading" title="{why}">Read as: {" · ".join(spans)}</p>'
    return (f'<details class="mv-reading mv-reading-fold" title="{why}"><summary>Read as: '
            f'<span class="mv-reading-lead">{" · ".join(lead)} …</span> '
            f'<span class="mv-reading-toggle">show all {len(spans)}</span></summary>'
            f'<ol class="mv-reading-all">{"".join(f"<li>{sp}</li>" for sp in spans)}</ol></details>')



def n_pages(result: dict | None) -> int:
    n = len((result or {}).get("results") or [])
    return max(1, -(-n // PAGE_SIZE))


def render_cards(result: dict | None, page: int = 1, liked=()) -> str:
    """One page of cards (PAGE_SIZE per page); ♥ filled for liked ids."""
    hits = (result or {}).get("results") or []
    if not hits:
        return '<div class="mv-empty"><p>No metaverse matched. Try another query or widen the filter.</p></div>'
    page = max(1, min(int(page), n_pages(result)))
    chunk = hits[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    liked = frozenset(liked or ())
    return f'<div class="mv-results">{"".join(render_card(h, liked) for h in chunk)}</div>'


def _reading_groups(result: dict) -> list[dict]:
    """Room matches per span of a short query without separators, which the backend reads as one part: the spans as
    the top hit cut the query, each with the room of every hit that read the same span, best first."""
    hits = result.get("results") or []
    lead = (hits[0].get("reading") or []) if hits else []
    if len(lead) < 2:
        return []
    groups = []
    for n, span in enumerate(lead):
        matches, seen = [], set()
        for hit in hits:
            rooms = {int(r.get("number", 0)): r for r in hit.get("rooms") or []}
            for s in hit.get("reading") or []:
                room = rooms.get(int(s.get("room", 0)))
                if s.get("text") != span.get("text") or room is None or (hit.get("id"), room["number"]) in seen:
                    continue
                seen.add((hit.get("id"), room["number"]))
                images = room.get("images") or []
                best = room.get("best_image")
                image = images[best - 1] if best and best <= len(images) else (images[0] if images else None)
                matches.append({"metaverse_id": hit.get("id"), "metaverse_title": hit.get("title", ""),
                                "kind": hit.get("kind", ""), "room": room["number"],
                                "room_title": room.get("title", ""), "score": s.get("score"), "image": image})
        groups.append({"part": n + 1, "text": span.get("text", ""), "matches": matches})
    return [g for g in groups if g["matches"]]


def _match(m: dict) -> str:
    thumb = _thumb(m.get("image"), m.get("room_title", ""), "mv-match-thumb") or \
        '<div class="mv-match-thumb mv-match-nothumb" aria-hidden="true">¶</div>'
    noun = ROOM_NOUN.get(m.get("kind", ""), "room").capitalize()
    return (f'<li class="mv-match">{thumb}<div class="mv-match-body">'
            f'<div class="mv-match-title">{e(m.get("room_title", ""))}</div>'
            f'<div class="mv-match-meta">{e(noun)} {int(m.get("room", 0))} of {e(m.get("metaverse_title", ""))}</div>'
            f'<div class="mv-match-meta">{badge(m.get("kind", ""))}'
            f'<span class="mv-match-score">{float(m.get("score") or 0):.3f}</span></div></div></li>')


def render_room_matches(result: dict | None) -> str:
    """Room-level matches grouped under the query part they answer, each group best first and folded after
    MATCHES_SHOWN, so that every part's best rooms show without scrolling. A short query that the backend read as one
    part but the hits cut into several spans ("sepia dunes pastel mountains") is grouped by those spans."""
    result = result or {}
    groups = [g for g in result.get("room_matches") or [] if g.get("matches")]
    by_reading = _reading_groups(result) if len(groups) == 1 else []
    if by_reading:
        groups = by_reading
    if not groups:
        return NO_MATCHES_HTML
    out = []
    if by_reading:
        out.append('<p class="mv-muted mv-part-note">Your query as the top hit read it, span by span:</p>')
    for g in groups:
        items = [_match(m) for m in sorted(g["matches"], key=lambda m: -float(m.get("score") or 0))]
        head = f'<h4 class="mv-part-head">“{clip(g.get("text", ""), 60)}”</h4>' if len(groups) > 1 or \
            result.get("query", {}).get("type") == "text" else ""
        rest = items[MATCHES_SHOWN:]
        more = (f'<details class="mv-fold mv-matches-more"><summary>{len(rest)} more '
                f'{"match" if len(rest) == 1 else "matches"}</summary><ul class="mv-matches">{"".join(rest)}</ul>'
                f'</details>') if rest else ""
        out.append(f'<section class="mv-part">{head}<ul class="mv-matches">{"".join(items[:MATCHES_SHOWN])}</ul>'
                   f'{more}</section>')
    return "".join(out)


def describe_query(query: dict) -> str:
    """What was searched, as escaped HTML."""
    t = query.get("type")
    if t == "text":
        return f"“{clip(query.get('text', ''))}”"
    if t == "stored_image":
        return f"more like image {int(query.get('image', 0))} of room {int(query.get('room', 0))} of " \
               f"{e(query.get('metaverse_id', ''))}"
    if t == "metaverses":
        ids = query.get("metaverse_ids") or []
        return f"more like {e(', '.join(ids[:3]))}{'…' if len(ids) > 3 else ''}"
    return "your image"


def render_status(result: dict, page: int = 1) -> str:
    """One line above the results: how many, for what, filter, ranker, page, time."""
    q = result.get("query") or {}
    n = len(result.get("results") or [])
    kind = "all kinds" if q.get("kind", "all") == "all" else FILTER_LABELS.get(q.get("kind"), "").lower()
    total = (result.get("timings_ms") or {}).get("total")
    t = result.get("timings_ms") or {}
    stages = " · ".join(f"{name} {float(t[name]):.0f}" for name in ("encode", "search", "attribution") if name in t)
    took = f'<span class="mv-timing" title="{e(stages)} ms">{float(total):.0f} ms</span>' if total is not None else ""
    pages = n_pages(result)
    where = f" · page {int(page)} of {pages}" if pages > 1 else ""
    floor = q.get("min_score")
    floor_txt = f" · score ≥ {float(floor):.2f}" if floor is not None else ""
    hint = (f'<span class="mv-muted"> — none scores {float(floor):.2f} or more; lower the minimum score</span>'
            if floor is not None and n == 0 else "")
    intent = q.get("kind_intent") if isinstance(q.get("kind_intent"), dict) else None
    applied = bool(intent and intent.get("applied"))
    # what the page URL keeps (clicks.URL_SYNC_JS): the typed text, the visitor's filter, a declined kind intent
    url = (f' data-q="{e(q.get("text", "")) if q.get("type") == "text" else ""}" '
           f'data-kind="{"all" if applied else e(q.get("kind", "all"))}" '
           f'data-intent="{"off" if intent and not applied else ""}"')
    # a phone hides the typed text (it is in the box right above) and the ranker, so results start higher
    what = f'<span class="{"mv-status-q" if q.get("type") == "text" else ""}"> for {describe_query(q)}</span>'
    return (f'<div class="mv-status-line"{url}><span><b>{n} {"metaverse" if n == 1 else "metaverses"}</b>{what} · '
            f'{e(kind)}{floor_txt}<span class="mv-status-ranker"> · ranker <code>{e(q.get("ranker", ""))}</code>'
            f'</span>{where}{hint}</span>{took}</div>{render_intent_chip(intent)}')


def render_intent_chip(intent: dict | None) -> str:
    """The kind a query named (backend kind_intent): "Gaming worlds only — you wrote “game” · Show all kinds" when
    the search ran as that kind, "Showing all kinds · Gaming worlds only" when the visitor declined it."""
    if not intent or intent.get("kind") not in FILTER_LABELS:
        return ""
    only = f'{FILTER_LABELS[intent["kind"]]} only'
    if intent.get("applied"):
        return (f'<div class="mv-intent" role="status"><span><b>{e(only)}</b> — {e(intent.get("evidence", ""))}'
                f'</span><button type="button" class="mv-intent-btn" data-intent="off">Show all kinds</button></div>')
    return (f'<div class="mv-intent" role="status"><span>Showing all kinds</span>'
            f'<button type="button" class="mv-intent-btn" data-intent="on">{e(only)}</button></div>')


def render_message(text: str) -> str:
    """A warning line (bad input, failure) shown as plain text."""
    return f'<div class="mv-status-line mv-warn" role="alert">⚠ {e(text)}</div>'


def render_active_query(result: dict) -> str:
    """The query a "more like this" click ran, shown where the inputs were."""
    q = result.get("query") or {}
    if q.get("type") != "stored_image":
        return ""
    key = q.get("key", "")
    return (f'<div class="mv-active"><img src="{e(thumb_url(key))}" alt="the image searched for" width="64" '
            f'height="64"><span>Searching like this image: image {int(q.get("image", 0))} of room '
            f'{int(q.get("room", 0))} of {e(q.get("metaverse_id", ""))}</span></div>')


def render_simple_cards(items: list[dict], liked=(), note_key: str | None = None) -> str:
    """Compact cards for lists without attribution (cluster members, recommendations): title, kind, theme, rooms,
    an optional note (e.g. which seed a result came from), ♥ and "more like this metaverse"."""
    if not items:
        return '<div class="mv-empty mv-empty-small"><p class="mv-muted">Nothing to show.</p></div>'
    liked = frozenset(liked or ())
    out = []
    for it in items:
        rank = f'<span class="mv-rank">#{int(it["rank"])}</span>' if it.get("rank") else ""
        score = f'<span class="mv-score">{float(it["score"]):.3f}</span>' if it.get("score") is not None else ""
        note = f'<p class="mv-why">{e(it[note_key])}</p>' if note_key and it.get(note_key) else ""
        rooms = it.get("rooms") or []
        rooms_html = (f'<p class="mv-room-list">{e(" · ".join(rooms[:8]))}</p>' if rooms else "")
        mid = it["id"]
        keys = [f"{mid}/{r + 1}/1" for r in range(min(len(rooms), 6))] if it.get("thumbs", True) else []
        thumbs = "".join(f'<img class="mv-thumb" src="{e(thumb_url(key))}" alt="room {n + 1}: more like it" '
                         f'width="48" height="48" loading="lazy" data-key="{e(key)}" tabindex="0" role="button">'
                         for n, key in enumerate(keys))
        thumbs_html = f'<div class="mv-thumbs">{thumbs}</div>' if thumbs else ""
        out.append(f'<article class="mv-card mv-card-compact" data-id="{e(it["id"])}"><header class="mv-card-head">'
                   f'{rank}<h3 class="mv-title">{e(it.get("title", it["id"]))}</h3>{badge(it.get("kind", ""))}{score}'
                   f'{like_button(it["id"], it["id"] in liked)}</header>{note}'
                   f'{thumbs_html}{rooms_html}'
                   f'<div class="mv-card-foot">{more_button(it["id"])}</div></article>')
    return f'<div class="mv-results">{"".join(out)}</div>'
