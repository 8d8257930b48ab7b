"""Contact details in a chat message: phone numbers, e-mail addresses, social-media handles and
invitations, external meeting links.

Moving a child's conversation off the platform is a known pattern of grooming (and of fee
evasion), so ``message_create`` asks ``find_contact_details`` about every new message and raises
a ``contact_details`` report when it finds any. Finding is pure computation on the text: no
query, no I/O. What it looks for:

- phone numbers: ``phonenumbers`` (Google's libphonenumber) finds candidates, read in
  ``CONTACT_DETAILS_PHONE_REGION`` when they carry no ``+country`` prefix. A candidate counts when
  libphonenumber calls it a valid number, or when it has the shape of one (10+ digits in phone
  grouping, or 7+ digits after words such as "call", "text", "number"). Arithmetic (a number next
  to ``=``, ``+``, ``×`` ...), decimals, dates and times are not phone numbers. Digits spelt out
  ("five five five, one two ...") count from seven in a row.
- e-mail addresses: an address shape confirmed by ``email-validator`` (syntax only, no DNS), and
  the spelt-out "name at gmail dot com".
- social handles and invitations: a platform's name with a handle ("snap: name", "insta @name",
  "my discord is sam#1234"), an invitation to one ("add me on discord", "are you on snapchat"),
  and links to profiles and chats (wa.me, t.me, discord.gg, instagram.com/...).
- external meeting links and ids: zoom.us, meet.google.com, teams.microsoft.com, and the like;
  "zoom id 812 3456 7890".

Staff tune it with two settings: ``CONTACT_DETAILS_EXTRA_PATTERNS`` (regular expressions, each a
further kind of contact detail) and ``CONTACT_DETAILS_ALLOW`` (what is not a contact detail: the
school's own domain, its office number). See README, "Safeguarding".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email
from phonenumbers import Leniency


@dataclass(frozen=True)
class Span:
    """What was found: ``text[start:end]``, of a ``kind`` (phone, email, social, meeting_link,
    custom)."""

    kind: str
    start: int
    end: int
    text: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start, "end": self.end, "text": self.text}


# --- Patterns ---------------------------------------------------------------------------------

# Platforms whose name alone means "contact me elsewhere". Words that are ordinary in a lesson
# ("line", "signal", "threads", "x", "meet") are not here; their links are.
_PLATFORM = (
    r"(?:snap\s?chat|snap|sc|insta\s?gram|insta|ig|tik\s?tok|discord|whats\s?app|wa|telegram|tg|kik|"
    r"wechat|skype|facebook|fb|messenger|twitter|roblox|steam|xbox|psn|reddit|viber|hangouts|google\s?chat)"
)
_MEETING = r"(?:zoom|skype|teams|microsoft\s+teams|google\s+meet|facetime|whereby|jitsi)"
_HANDLE = r"@?[A-Za-z0-9_][A-Za-z0-9_.#\-]{1,31}"

_SOCIAL = [
    # "snap: name", "insta @name", "ig - sam.p", "discord=sam#1234"
    rf"\b{_PLATFORM}\s*(?:[:=]|-\s|@)\s*{_HANDLE}",
    rf"\b{_PLATFORM}\s+@[A-Za-z0-9_][A-Za-z0-9_.]{{1,31}}",
    # "my snap is sammy_22", "my insta's sam.p", "our discord: ..."
    rf"\b(?:my|our)\s+{_PLATFORM}(?:\s+(?:name|handle|username|user|id|tag|account))?\s*(?:is|'s|’s|:|=|-)\s*{_HANDLE}",
    # "snapchat username sam_p", "discord tag sam#1234"
    rf"\b{_PLATFORM}\s+(?:name|handle|username|user\s?name|id|tag|account)\s*(?:is\s*)?[:=\-]?\s*{_HANDLE}",
    # "add me on discord", "message me on whatsapp", "hmu on snap", "dm me on insta"
    rf"\b(?:add|follow|dm|pm|message|msg|text|hmu|hit\s+me\s+up|find|friend|call|ring|ping|contact|reach|"
    rf"chat\s+(?:to|with)|talk\s+(?:to|with))\s+(?:me\s+|us\s+)?(?:up\s+)?(?:on|at|via|over|in|through)\s+"
    rf"(?:{_PLATFORM}|{_MEETING})\b",
    # "are you on snapchat", "do you have insta", "got discord?"
    rf"\b(?:are\s+you\s+on|do\s+you\s+have|have\s+you\s+got|you\s+got|got|do\s+you\s+use)\s+(?:a\s+)?"
    rf"{_PLATFORM}\b",
    # "let's move this to whatsapp", "continue on zoom", "switch to telegram"
    rf"\b(?:move|switch|continue|carry\s+on|go|chat|talk|speak)\s+(?:this\s+|it\s+|the\s+chat\s+|privately\s+)?"
    rf"(?:to|on|over\s+to|onto)\s+(?:{_PLATFORM}|{_MEETING})\b",
    # "I'm sam.p13 on insta", "look me up: SamP on roblox"
    rf"\b(?:i'?m|i\s+am|look\s+me\s+up|search(?:\s+for)?)\s*:?\s+{_HANDLE}\s+on\s+{_PLATFORM}\b",
    # "the next one on google meet", "via whatsapp"
    r"\b(?:on|via|over|through)\s+(?:google\s+meet|microsoft\s+teams|zoom|skype|facetime|whats\s?app|snapchat|"
    r"telegram|discord|kik|wechat)\b",
    # "facetime me", "skype me", "whatsapp me"
    r"\b(?:facetime|skype|whats\s?app|snap|telegram|kik)\s+me\b",
    # "my gmail is sam.p2010"
    r"\b(?:my\s+)?(?:gmail|hotmail|yahoo|outlook|icloud|proton\s?mail)\s*(?:is|:|=)\s*[A-Za-z0-9_.+\-]{3,}",
]

_LINK_HOSTS = {
    "social": (
        r"wa\.me|api\.whatsapp\.com|chat\.whatsapp\.com|t\.me|telegram\.me|telegram\.dog|discord\.gg|"
        r"discord(?:app)?\.com/(?:invite|users)|snapchat\.com|instagram\.com|instagr\.am|tiktok\.com|"
        r"facebook\.com|fb\.me|m\.me|kik\.me|signal\.me|signal\.group|wechat\.com|twitter\.com|x\.com|"
        r"threads\.net|reddit\.com/u(?:ser)?|roblox\.com/users|steamcommunity\.com|line\.me|viber\.com"
    ),
    "meeting_link": (
        r"(?:[a-z0-9-]+\.)?zoom\.us|zoom\.com|meet\.google\.com|g\.co/meet|teams\.microsoft\.com|"
        r"teams\.live\.com|join\.skype\.com|skype\.com|whereby\.com|meet\.jit\.si|(?:[a-z0-9-]+\.)?webex\.com|"
        r"gotomeet\.me|(?:[a-z0-9-]+\.)?gotomeeting\.com|bluejeans\.com|discord\.com/channels|facetime\.apple\.com"
    ),
}

# "zoom id 812 3456 7890", "meeting ID: 81234567890", "teams code 123 456 789"
_MEETING_ID = (
    rf"\b(?:{_MEETING}|meeting)\s*(?:meeting\s*)?(?:id|code|number|no\.?|#)\s*(?:is\s*)?[:#]?\s*"
    r"\d[\d\s\-]{7,14}\d"
)

_EMAIL = r"(?<![\w.+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
# "sam.parker at gmail dot com", "sam (at) gmail (dot) com"
_EMAIL_SPELT = (
    r"\b[A-Za-z0-9._%+\-]+(?:\s+dot\s+[A-Za-z0-9_%+\-]+)*\s*[\(\[]?\s*(?:at|@)\s*[\)\]]?\s*[A-Za-z0-9\-]+\s*[\(\[]?\s*(?:dot|\.)\s*[\)\]]?\s*"
    r"(?:com|net|org|edu|io|me|co\s*(?:\.|dot)\s*uk|uk|us|ca|au|de|fr)\b"
)

_DOT = re.compile(r"\bdot\b", re.IGNORECASE)

# Digits spelt out: "five five five one two three four"
_DIGIT_WORD = r"(?:zero|oh|o|one|two|three|four|five|six|seven|eight|nine|double\s+\w+)"
_DIGITS_SPELT = rf"\b{_DIGIT_WORD}(?:[\s,\-]+{_DIGIT_WORD}){{6,}}\b"

# Every social and meeting pattern above needs one of these words, or a link; a message with
# none of them skips those patterns (most messages: the screening stays cheap).
_SOCIAL_GATE = (
    rf"\b(?:{_PLATFORM}|{_MEETING}|meeting|gmail|hotmail|yahoo|outlook|icloud|proton)|https?://|www\.|"
    r"\w\.(?:me|gg|com|us|si|net|co|am|dog|group)\b"
)
# A phone number needs seven digits close together (or spelt out: _DIGITS_SPELT).
_PHONE_GATE = r"\d(?:[\s\-.()/]{0,3}\d){6,}"

# A national number in a trunk-prefix format ("07700 900123", "020 7946 0958", spaced out digit by
# digit) that the deployment's region does not read: 10 to 13 digits from a leading 0.
_TRUNK_NUMBER = r"(?<![\w.,+])0(?:[\s\-.()]{0,2}\d){9,12}(?![\w])"

# Words that make a number of 7+ digits a phone number.
_PHONE_CUE = re.compile(
    r"\b(?:call|text|txt|ring|phone|mobile|cell|number|num|no\.|whats\s?app|tel|contact|reach|sms|"
    r"signal|telegram|viber|landline|digits)\b",
    re.IGNORECASE,
)
# Arithmetic next to a number: it is maths, not a phone number.
_MATH_BEFORE = set("=+*/×÷^<>≤≥±√%")
_MATH_AFTER = set("=+*/×÷^<>≤≥±%²³")
_DATE = re.compile(r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}$")
_DECIMAL = re.compile(r"^\d+[.,]\d+$|^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_TIME = re.compile(r"\d{1,2}:\d{2}")


@dataclass(frozen=True)
class _Compiled:
    social_gate: re.Pattern
    patterns: tuple[tuple[str, re.Pattern], ...]
    extra: tuple[re.Pattern, ...]
    phone_gate: re.Pattern
    email: re.Pattern
    email_spelt: re.Pattern
    digits_spelt: re.Pattern
    trunk_number: re.Pattern
    region: str
    allow: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def _compile(extra: tuple[str, ...], allow: tuple[str, ...], region: str) -> _Compiled:
    flags = re.IGNORECASE
    patterns: list[tuple[str, re.Pattern]] = [("social", re.compile(p, flags)) for p in _SOCIAL]
    for kind, hosts in _LINK_HOSTS.items():
        patterns.append((kind, re.compile(rf"(?<![\w.\-])(?:https?://)?(?:www\.)?(?:{hosts})(?:[/?#][^\s]*)?", flags)))
    patterns.append(("meeting_link", re.compile(_MEETING_ID, flags)))
    return _Compiled(
        social_gate=re.compile(_SOCIAL_GATE, flags),
        patterns=tuple(patterns),
        extra=tuple(re.compile(p, flags) for p in extra),
        phone_gate=re.compile(_PHONE_GATE),
        email=re.compile(_EMAIL),
        email_spelt=re.compile(_EMAIL_SPELT, flags),
        digits_spelt=re.compile(_DIGITS_SPELT, flags),
        trunk_number=re.compile(_TRUNK_NUMBER),
        region=region.upper(),
        allow=tuple(a.strip().lower() for a in allow if a.strip()),
    )


def _config() -> _Compiled:
    return _compile(
        tuple(settings.CONTACT_DETAILS_EXTRA_PATTERNS),
        tuple(settings.CONTACT_DETAILS_ALLOW),
        settings.CONTACT_DETAILS_PHONE_REGION,
    )


# --- Finding ------------------------------------------------------------------------------------


def find_contact_details(text: str) -> list[Span]:
    """Every contact detail in ``text``, in order, overlapping finds merged. Allowed ones
    (``CONTACT_DETAILS_ALLOW``) are left out. No query, no I/O."""
    config = _config()
    found: list[Span] = []
    if config.social_gate.search(text):
        for kind, pattern in config.patterns:
            found.extend(Span(kind, m.start(), m.end(), m.group(0)) for m in pattern.finditer(text))
    for pattern in config.extra:
        found.extend(Span("custom", m.start(), m.end(), m.group(0)) for m in pattern.finditer(text))
    if "@" in text:
        for m in config.email.finditer(text):
            if _is_email(m.group(0)):
                found.append(Span("email", m.start(), m.end(), m.group(0)))
    if _DOT.search(text):
        found.extend(Span("email", m.start(), m.end(), m.group(0)) for m in config.email_spelt.finditer(text))
    found.extend(_phones(text, config))
    found = [span for span in found if not _allowed(span, config.allow, config.region)]
    return _merge(text, found)


def _is_email(candidate: str) -> bool:
    try:
        validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _phones(text: str, config: _Compiled) -> list[Span]:
    spans = [Span("phone", m.start(), m.end(), m.group(0)) for m in config.digits_spelt.finditer(text)]
    if not config.phone_gate.search(text):
        return spans
    for match in phonenumbers.PhoneNumberMatcher(text, config.region, leniency=Leniency.POSSIBLE):
        if _is_phone(text, match.start, match.end, valid=phonenumbers.is_valid_number(match.number)):
            spans.append(Span("phone", match.start, match.end, match.raw_string))
    for match in config.trunk_number.finditer(text):
        if _is_phone(text, match.start(), match.end(), valid=False):
            spans.append(Span("phone", match.start(), match.end(), match.group(0)))
    return spans


def _is_phone(text: str, start: int, end: int, *, valid: bool) -> bool:
    """Whether a number-shaped candidate is a phone number rather than maths, a date, a time or
    a long number written out ("Is 2147483647 prime?")."""
    raw = text[start:end].strip()
    digits = sum(ch.isdigit() for ch in raw)
    if digits < 7 or _DATE.match(raw) or _DECIMAL.match(raw) or _TIME.search(raw):
        return False
    before = text[:start].rstrip()
    after = text[end:].lstrip()
    if (before and before[-1] in _MATH_BEFORE) or (after and after[0] in _MATH_AFTER):
        return False
    if before[-1:] == "." and before[-2:-1].isdigit():  # the tail of a decimal: 3.14159265
        return False
    if raw.startswith("+"):
        return True
    grouped = bool(re.search(r"[\s\-().]", raw))
    if digits >= 10 and (grouped or raw.startswith("0")):
        return True
    if valid and grouped:
        return True
    return bool(_PHONE_CUE.search(text[max(0, start - 40) : start]))


def _allowed(span: Span, allow: tuple[str, ...], region: str) -> bool:
    """An allow-list entry is a domain (``school.example.org``: its addresses and links, and
    its subdomains'), a phone number (any format: its digits are compared), or any other text
    (the span, lower-cased, equal to it)."""
    if not allow:
        return False
    value = span.text.strip().lower()
    number = _phone_key(value, region) if span.kind == "phone" else None
    host = ""
    if span.kind == "email" and "@" in value:
        host = value.rsplit("@", 1)[1]
    elif span.kind in ("social", "meeting_link", "custom"):
        host = re.sub(r"^(?:https?://)?(?:www\.)?", "", value).split("/", 1)[0].split("?", 1)[0]
    for entry in allow:
        if value == entry:
            return True
        if host and (host == entry or host.endswith("." + entry)):
            return True
        if number is not None and _phone_key(entry, region) == number:
            return True
    return False


def _phone_key(value: str, region: str) -> str | None:
    """A phone number in E.164, however it was written; None if it does not read as one."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _merge(text: str, spans: list[Span]) -> list[Span]:
    """Overlapping finds become one span (the kind of the one that starts first, or of the
    longer one when they start together)."""
    spans.sort(key=lambda s: (s.start, -(s.end - s.start)))
    merged: list[Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            if span.end > last.end:
                merged[-1] = Span(last.kind, last.start, span.end, text[last.start : span.end])
            continue
        merged.append(span)
    return merged
