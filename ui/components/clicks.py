"""One click handler for every results panel: a thumbnail searches for more like it, ♥ toggles a like, "More like
this metaverse" asks for recommendations, a grade button records a study judgement. Each writes its value into a hidden textbox and presses a hidden button
(both live in the Search tab, which is always rendered)."""

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
  const more = ev.target.closest('[data-more]');
  if (more) { ev.preventDefault(); send('mv-more-box', 'mv-more-btn', more.dataset.more, '__mvPendingMore'); return; }
  const img = ev.target.closest('[data-key]');
  if (img) { ev.preventDefault(); send('mv-key-box', 'mv-key-btn', img.dataset.key, '__mvPendingKey'); }
});
"""


def read_pending(slot: str, n_more: int = 0) -> str:
    """JS for an event's `js=`: take the value the click stored (robust to input-event timing), pass the rest on."""
    rest = ", ".join(f"a{i}" for i in range(n_more))
    args = f"v{', ' + rest if rest else ''}"
    return f"({args}) => [window.{slot} || v{', ' + rest if rest else ''}]"
