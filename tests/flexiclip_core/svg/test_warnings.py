"""`svg._warnings`: one warning per (code, element), and at most `MAX_WARNINGS` kept per file."""

from __future__ import annotations

from flexiclip_core.svg._warnings import MAX_WARNINGS, WarningLog


def test_each_code_is_warned_once_per_element_and_the_log_is_bounded() -> None:
    log = WarningLog("c")
    log.warn_text("a", "first", "<rect #1>")
    log.warn_text("a", "again", "<rect #1>")
    log.warn_text("a", "elsewhere", "<rect #2>")
    log.warn_text("b", "other code", "<rect #1>")
    assert [(w.code, w.message, w.element) for w in log.warnings] == [
        ("a", "first", "<rect #1>"),
        ("a", "elsewhere", "<rect #2>"),
        ("b", "other code", "<rect #1>"),
    ]
    for index in range(MAX_WARNINGS + 50):
        log.warn_text("c", "many", f"<path #{index}>")
    assert len(log.warnings) == MAX_WARNINGS + 1  # MAX_WARNINGS kept, then one truncation marker
    assert log.warnings[-1].code == "warnings-truncated" and log.warnings[-2].element == "<path #196>"
