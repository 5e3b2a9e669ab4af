"""The decision rule on a calibrated confidence, in one place (pure Python: the plugin's light
paths import it without numpy)."""

from __future__ import annotations


def band(confidence: float, auto: float, review: float, incidental: bool = False) -> str:
    """The one decision rule: "auto" (tag without asking), "review" (suggest) or "low" (nothing).

    A bystander (one image beside the gallery's subjects, see ``persons``) is never "auto": one
    photo of someone in the background is not enough to tag the whole gallery with them.
    """
    if confidence >= auto and not incidental:
        return "auto"
    return "review" if confidence >= review else "low"
