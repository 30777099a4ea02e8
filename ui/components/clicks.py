"""One click handler for every results panel: a thumbnail searches for more like it, ♥ toggles a like, "More like
this metaverse" asks for recommendations, a grade button records a study judgement, a card's title or "Details" opens
the detail view, the kind-intent chip re-runs the search. Each writes its value into a hidden textbox and presses a
hidden button (both live in the Search tab, which is always rendered). A focused thumbnail answers Enter and Space."""

# Runs once when an HTML panel mounts (gr.HTML js_on_load).
CLICKS_JS = """
const send = (box, btn, value, slot) => {
  window[slot] = value;
  const el = document.querySelector(`#${box} textarea, #${box} input`);
  if (el) { el.value = value; el.dispatchEvent(new Event('input', {bubbles: true})); }
  document.querySelector(`#${btn}`)?.click();
};
element.addEventListener('click', (ev) => {
  const like = ev.target.closest('[data-like]');
  if (like) {
    ev.preventDefault();
    const on = like.getAttribute('aria-pressed') !== 'true';
    document.querySelectorAll(`[data-like="${CSS.escape(like.dataset.like)}"]`).forEach(
      (b) => b.setAttribute('aria-pressed', on ? 'true' : 'false'));
    send('mv-like-box', 'mv-like-btn', like.dataset.like, '__mvPendingLike');
    return;
  }
  const grade = ev.target.closest('[data-grade]');
  if (grade) {
    ev.preventDefault();
    const [mid] = grade.dataset.grade.split('|');
    grade.closest('.mv-grades')?.querySelectorAll('[data-grade]').forEach(
      (b) => b.setAttribute('aria-pressed', b === grade ? 'true' : 'false'));
    send('mv-grade-box', 'mv-grade-btn', grade.dataset.grade, '__mvPendingGrade');
    return;
  }
  const detail = ev.target.closest('[data-detail]');
  if (detail) {
    ev.preventDefault();
    window.__mvDetailOpener = detail;
    const open = document.querySelector(`#mv-detail .mv-detail-wrap[data-id="${CSS.escape(detail.dataset.detail)}"]`);
    if (open) { open.hidden = false; open.querySelector('.mv-detail-close')?.focus(); return; }  // shown before
    send('mv-detail-box', 'mv-detail-btn', detail.dataset.detail, '__mvPendingDetail');
    return;
  }
  const intent = ev.target.closest('[data-intent]');
  if (intent && intent.tagName === 'BUTTON') {
    ev.preventDefault(); send('mv-intent-box', 'mv-intent-btn', intent.dataset.intent, '__mvPendingIntent'); return;
  }
  const more = ev.target.closest('[data-more]');
  if (more) { ev.preventDefault(); send('mv-more-box', 'mv-more-btn', more.dataset.more, '__mvPendingMore'); return; }
  const img = ev.target.closest('[data-key]');
  if (img) { ev.preventDefault(); send('mv-key-box', 'mv-key-btn', img.dataset.key, '__mvPendingKey'); }
});
element.addEventListener('keydown', (ev) => {
  if ((ev.key === 'Enter' || ev.key === ' ') && ev.target.matches?.('[data-key][role=button]')) {
    ev.preventDefault();
    ev.target.click();
  }
});
"""

# The status line carries what the page URL should say (cards.render_status: data-q, data-kind, data-intent); each new
# status writes it with history.replaceState (ui.TAB_URL_HEAD_JS: mvSetUrlParams), so the address is a shareable link.
URL_SYNC_JS = """
const syncUrl = () => {
  const line = element.querySelector('.mv-status-line[data-kind]');
  if (!line || !window.mvSetUrlParams) return;
  window.mvSetUrlParams({q: line.dataset.q || null, kind: line.dataset.kind === 'all' ? null : line.dataset.kind,
                         intent: line.dataset.intent || null});
};
new MutationObserver(syncUrl).observe(element, {childList: true, subtree: true, characterData: true});
"""

# The detail view is a dialog: it takes the focus when it opens, keeps Tab inside, and closes (focus back on the title
# or button that opened it) on ✕, Escape, a click beside it, or when an image in it starts a search.
DETAIL_JS = """
const wrap = () => element.querySelector('.mv-detail-wrap');
const close = () => {
  const w = wrap();
  if (!w || w.hidden) return;
  w.hidden = true;
  window.__mvDetailOpener?.focus?.();
};
new MutationObserver(() => {
  const w = wrap();
  if (w && !w.hidden && !w.__mvShown) { w.__mvShown = true; w.querySelector('.mv-detail-close')?.focus(); }
}).observe(element, {childList: true, subtree: true});
element.addEventListener('click', (ev) => {
  if (ev.target.closest('[data-close-detail]')) { ev.preventDefault(); close(); return; }
  if (ev.target.closest('[data-key], [data-more]')) close();
});
document.addEventListener('keydown', (ev) => {
  const w = wrap();
  if (!w || w.hidden) return;
  if (ev.key === 'Escape') { ev.preventDefault(); close(); return; }
  if (ev.key !== 'Tab') return;
  const stops = [...w.querySelectorAll('button, [tabindex="0"], summary')].filter((n) => n.offsetParent !== null);
  if (!stops.length) return;
  const [first, last] = [stops[0], stops[stops.length - 1]];
  if (!w.contains(document.activeElement)) { ev.preventDefault(); first.focus(); }
  else if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
  else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
});
"""


def read_pending(slot: str, n_more: int = 0) -> str:
    """JS for an event's `js=`: take the value the click stored (robust to input-event timing), pass the rest on."""
    rest = ", ".join(f"a{i}" for i in range(n_more))
    args = f"v{', ' + rest if rest else ''}"
    return f"({args}) => [window.{slot} || v{', ' + rest if rest else ''}]"
