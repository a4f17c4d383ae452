"""Plain explanations of the carrier and KakaoTalk result codes the platform passes on.

Codes overlap between the two families (3016, 3018 and 3019 mean different things), so
a code is explained by the channel the message finally went by.
"""

from __future__ import annotations

from typing import NamedTuple

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Channel


class Explanation(NamedTuple):
    summary: Promise
    action: Promise | None  # what the sender can do; None when nothing is to be done
    group: str  # "success", "permanent", "temporary", "policy" or "pending"


CARRIER_CODES: dict[str, Explanation] = {
    "1000": Explanation(_("Delivered"), None, "success"),
    "2003": Explanation(_("Handset switched off"), _("Temporary; try again later."), "temporary"),
    "2005": Explanation(
        _("No signal or out of coverage"), _("Temporary; try again later."), "temporary"
    ),
    "3001": Explanation(_("No such subscriber"), _("Remove the number."), "permanent"),
    "3003": Explanation(_("Invalid or unassigned number"), _("Check the number."), "permanent"),
    "3004": Explanation(
        _("Service suspended"), _("Remove the number or check later."), "temporary"
    ),
    "3006": Explanation(
        _("Recipient refused"),
        _("The recipient refused messages from this number: remove them from your list."),
        "permanent",
    ),
    "3010": Explanation(_("Handset cannot receive MMS"), _("Send it as LMS."), "permanent"),
    "3012": Explanation(
        _("Classified as spam"),
        _(
            "Review the content: an advertisement starts with (광고) and gives a free "
            "opt-out number."
        ),
        "policy",
    ),
    "3016": Explanation(_("Attachment too large"), _("Shrink the image."), "policy"),
    "3017": Explanation(
        _("Blocked by the carrier's number-theft protection"),
        _(
            "The recipient subscribed to number-theft blocking (번호도용 문자차단): send "
            "from your own registered number, or reach them another way."
        ),
        "policy",
    ),
    "3018": Explanation(
        _("Blocked by the carrier's number-theft protection"),
        _(
            "The recipient subscribed to number-theft blocking (번호도용 문자차단): send "
            "from your own registered number, or reach them another way."
        ),
        "policy",
    ),
    "3019": Explanation(
        _("Sender number not registered"),
        _("Register the sender number first (발신번호 사전등록)."),
        "policy",
    ),
    "E915": Explanation(_("Duplicate message"), _("Check for repeated sends."), "policy"),
    "E919": Explanation(
        _("Outside the allowed sending hours"), _("Send within the allowed hours."), "policy"
    ),
}

KAKAO_CODES: dict[str, Explanation] = {
    "0000": Explanation(_("Delivered (charged)"), None, "success"),
    "3005": Explanation(
        _("No delivery acknowledgement yet; the outcome is uncertain (held up to 3 days)"),
        _("Wait for the final result."),
        "pending",
    ),
    "3008": Explanation(_("Phone number error"), _("Check the number."), "permanent"),
    "3015": Explanation(_("Template not found"), _("Check the template code."), "permanent"),
    "3016": Explanation(
        _("Content does not match the template"),
        _("Fix the variables or the template."),
        "permanent",
    ),
    "3018": Explanation(
        _("Cannot be sent (e.g. recipient inactive on KakaoTalk for 7 days)"),
        _("Turn on fallback text (대체문자)."),
        "temporary",
    ),
    "3019": Explanation(
        _("Not a KakaoTalk user"), _("Turn on fallback text (대체문자)."), "permanent"
    ),
    "3020": Explanation(
        _("Recipient blocked the channel's messages"),
        _("The recipient blocked your channel: do not send again by KakaoTalk."),
        "permanent",
    ),
    "3022": Explanation(
        _("Outside the allowed hours (08–20 for FriendTalk and marketing)"),
        _("Send within the allowed hours."),
        "policy",
    ),
    "3024": Explanation(_("Image rejected"), _("Check the image format and size."), "policy"),
    "3025": Explanation(_("A variable is too long"), _("Shorten the variable."), "policy"),
}
_CHANNEL_STATE = Explanation(
    _("The Kakao channel is blocked, closed, deleted or sanctioned"),
    _("Check the Kakao channel's state."),
    "policy",
)
KAKAO_CODES.update({str(code): _CHANNEL_STATE for code in range(1021, 1026)})


# Our own code, not a carrier's: the send request failed as a whole, so its messages never
# reached a carrier; their result message is the request's failure reason.
REQUEST_FAILED = "REQUEST"
REQUEST_FAILED_EXPLANATION = Explanation(
    _("The send request failed; nothing was handed to a carrier"),
    _("See the failure reason; the points were refunded."),
    "permanent",
)


def explain(code: str, channel: str) -> Explanation | None:
    """Our explanation of `code` for a message that went by `channel`, if we know it."""
    if code == REQUEST_FAILED:
        return REQUEST_FAILED_EXPLANATION
    table = KAKAO_CODES if Channel.is_kakao(channel) else CARRIER_CODES
    return table.get(code.strip().upper())
