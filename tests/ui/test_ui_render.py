"""Result HTML without a browser: rooms without images, escaping, folding, paging, grouped room matches."""
from __future__ import annotations

from ui.components.cards import (MATCHES_SHOWN, PAGE_SIZE, clip, render_cards, render_detail, render_room_matches,
                                 render_status)


def _room(n, contribution, images=None, paragraph=None):
    room = {"number": n, "title": f"Room <{n}>", "score": 0.2 + n / 10, "part": 1, "contribution": contribution,
            "occlusion_drop": 0.0, "best_image": 1 if images else None, "images": images or []}
    if paragraph:
        room["paragraph"] = paragraph
    return room


def _hit(rank, kind="museum", rooms=None):
    return {"rank": rank, "id": f"{kind}-{rank:04d}", "kind": kind, "title": f"Museum <{rank}>", "score": 0.8,
            "metaverse_score": 0.7, "best_room": 2, "rooms": rooms or [_room(1, 0.3), _room(2, 0.7)]}


def _images(n, scores):
    return [{"key": f"game-0001/1/{i + 1}", "url": f"/thumbs/game-0001/1/{i + 1}.png", "score": s}
            for i, s in zip(range(n), scores)]


def test_rooms_without_images_show_their_paragraph_and_text_is_escaped():
    result = {"results": [_hit(1, rooms=[_room(1, 0.3, paragraph="In the first room, there are 3 paintings."),
                                         _room(2, 0.7)])]}
    html = render_cards(result)
    assert "In the first room, there are 3 paintings." in html
    assert "<img" not in html and "carried 70 %" in html and "mv-room-best" in html
    assert "Museum &lt;1&gt;" in html and "Museum <1>" not in html


def test_rooms_that_carried_nothing_fold_away():
    rooms = [_room(1, 0.0), _room(2, 0.98), _room(3, 0.02)]
    html = render_cards({"results": [_hit(1, rooms=rooms)]})
    assert "2 more rooms that carried under 3 %" in html and html.count('class="mv-room') >= 3


def test_game_segment_shows_frame_timeline_with_best_moment():
    imgs = _images(5, [0.1, 0.2, 0.6, 0.3, 0.2])
    room = _room(1, 1.0, images=imgs)
    room["best_image"] = 3
    html = render_cards({"results": [{**_hit(1, kind="game", rooms=[room]), "best_room": 1}]})
    assert html.count("mv-tl-bar") == 5 and "best moment: frame 3 of 5" in html
    assert 'data-key="game-0001/1/3"' in html and "mv-thumb-best" in html


def test_pages_of_cards():
    result = {"results": [_hit(i + 1) for i in range(25)], "query": {"type": "text", "text": "x"}}
    assert render_cards(result, 1).count("<article") == PAGE_SIZE
    assert render_cards(result, 3).count("<article") == 5
    assert "page 2 of 3" in render_status(result, 2)


def test_room_matches_grouped_by_part_and_sorted():
    def match(title, score):
        return {"metaverse_id": "m", "metaverse_title": "M <b>", "kind": "museum", "room": 1, "room_title": title,
                "score": score, "image": None}
    result = {"query": {"type": "text"}, "room_matches": [
        {"part": 1, "text": "a room of <b>seas</b>", "matches": [match("low", 0.1), match("high", 0.9)]},
        {"part": 2, "text": "flowers", "matches": [match("f", 0.5)]}]}
    html = render_room_matches(result)
    assert html.count('class="mv-part"') == 2 and html.index("high") < html.index("low")
    assert "&lt;b&gt;seas&lt;/b&gt;" in html and "<b>seas" not in html


def test_status_cuts_after_escaping_so_no_tag_is_left_open():
    text = "x" * 78 + "<a href='//evil'>"
    assert clip(text).startswith("x" * 78 + "&lt;a") and "<a" not in clip(text)
    status = render_status({"query": {"type": "text", "text": "![img](http://example.com/x.png) <b>bold</b>",
                                      "ranker": "hicalm", "kind": "all"}, "results": [], "timings_ms": {"total": 5}})
    assert "<b>bold" not in status and "&lt;b&gt;" in status


def test_card_says_how_it_read_a_query_naming_several_rooms():
    hit = _hit(1, kind="game")
    hit["reading"] = [{"text": "sepia <dunes>", "part": 1, "room": 2, "score": 0.5},
                      {"text": "grey ruins", "part": 1, "room": 1, "score": 0.4}]
    html = render_cards({"results": [hit]})
    assert "Read as: “sepia &lt;dunes&gt;” → segment 2 · “grey ruins” → segment 1" in html
    hit["reading"] = hit["reading"][:1]      # one span says nothing the query did not
    assert "Read as" not in render_cards({"results": [hit]})


def test_a_long_reading_folds_to_its_first_spans():
    hit = _hit(1)
    hit["reading"] = [{"text": t, "part": 1, "room": n + 1, "score": 0.5}
                      for n, t in enumerate(["sepia dunes pastel mountains", "grey ruins night cities", "starry skies"])]
    html = render_cards({"results": [hit]})
    assert '<details class="mv-reading mv-reading-fold"' in html and "show all 3" in html
    assert html.count("<li>") == 3 and "“starry skies” → room 3" in html
    hit["reading"] = hit["reading"][1:]                      # two short spans stay one line
    assert "mv-reading-fold" not in render_cards({"results": [hit]})


def test_detail_view_has_every_room_image_large_and_the_description():
    images = [{"key": f"museum-0001/1/{i}", "url": f"/thumbs/museum-0001/1/{i}.png", "score": 0.1} for i in (1, 2, 3, 4, 5, 6)]
    rooms = [_room(2, 0.7), {**_room(1, 0.3, images=images), "paragraph": "In the first room, <six> paintings."}]
    hit = {**_hit(1, rooms=rooms), "intro": "A museum of <seas>."}
    html = render_detail(hit)
    assert 'role="dialog"' in html and 'aria-modal="true"' in html and "A museum of &lt;seas&gt;." in html
    assert html.count('class="mv-detail-img') == 6 and "?size=256" in html and 'tabindex="0"' in html
    assert html.index("Room 1 ·") < html.index("Room 2 ·")                     # in room order
    assert "&lt;six&gt;" in html and 'data-more="museum-0001"' in html


def test_cards_open_the_detail_view_and_thumbnails_take_the_focus():
    images = [{"key": "museum-0001/1/1", "url": "/thumbs/museum-0001/1/1.png", "score": 0.1}]
    html = render_cards({"results": [_hit(1, rooms=[_room(1, 1.0, images=images)])]})
    assert html.count('data-detail="museum-0001"') == 2                         # the title and "Details"
    assert 'tabindex="0" role="button"' in html


def test_every_query_part_shows_and_folds_after_the_first_matches():
    def match(n):
        return {"metaverse_id": f"m{n}", "metaverse_title": "M", "kind": "museum", "room": 1, "room_title": f"r{n}",
                "score": 1 - n / 10, "image": None}
    result = {"query": {"type": "text"}, "room_matches": [
        {"part": 1, "text": "seas", "matches": [match(n) for n in range(8)]},
        {"part": 2, "text": "flowers", "matches": [match(n) for n in range(2)]}]}
    html = render_room_matches(result)
    assert html.count('class="mv-part"') == 2 and f"{8 - MATCHES_SHOWN} more matches" in html
    assert html.index("flowers") > html.index("more matches")


def test_a_query_read_as_spans_groups_its_room_matches_by_span():
    hits = []
    for n in (1, 2):
        hit = _hit(n)
        hit["reading"] = [{"text": "sepia dunes", "part": 1, "room": 1, "score": 0.5},
                          {"text": "grey ruins", "part": 1, "room": 2, "score": 0.4 + n / 100}]
        hits.append(hit)
    result = {"query": {"type": "text"}, "results": hits, "room_matches": [
        {"part": 1, "text": "sepia dunes grey ruins", "matches": [{"metaverse_id": "x", "metaverse_title": "X",
                                                                    "kind": "museum", "room": 1, "room_title": "t",
                                                                    "score": 0.3, "image": None}]}]}
    html = render_room_matches(result)
    assert html.count('class="mv-part"') == 2 and "“sepia dunes”" in html and "“grey ruins”" in html
    assert html.count('class="mv-match"') == 4 and "Room 2 of Museum &lt;2&gt;" in html


def test_status_carries_the_url_state_and_the_kind_intent_chip():
    q = {"type": "text", "text": "a game with <snow>", "kind": "game", "ranker": "hicalm",
         "kind_intent": {"kind": "game", "applied": True, "evidence": "you wrote “game”"}}
    html = render_status({"query": q, "results": []})
    assert 'data-q="a game with &lt;snow&gt;"' in html and 'data-kind="all"' in html and 'data-intent=""' in html
    assert "Gaming worlds only</b> — you wrote “game”" in html and 'data-intent="off">Show all kinds' in html
    q["kind_intent"] = {**q["kind_intent"], "applied": False}
    html = render_status({"query": {**q, "kind": "all"}, "results": []})
    assert "Showing all kinds" in html and 'data-intent="on">Gaming worlds only' in html
    assert 'data-intent="off"' in html.split("<span")[0]                    # the URL keeps the choice
    for intent in (None, {"kind": "dragon"}):                               # no chip without a known kind
        assert "mv-intent" not in render_status({"query": {**q, "kind_intent": intent}, "results": []})
    image = render_status({"query": {"type": "image", "kind": "museum", "ranker": "hicalm"}, "results": []})
    assert 'data-q=""' in image and 'data-kind="museum"' in image
