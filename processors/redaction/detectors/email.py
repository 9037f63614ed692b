"""Email addresses: a conservative address shape, then checks on the parts."""

from __future__ import annotations

from processors.redaction.detectors.base import Detector, Pattern

# Asset names such as icon@2x.png have an address shape; no TLD is a file extension.
_FILE_EXTENSIONS = frozenset({
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "css", "js", "mjs", "map", "json",
    "html", "htm", "txt", "pdf", "mp3", "mp4", "wav", "ogg", "webm", "woff", "woff2", "ttf", "otf", "lock",
})
# WhatsApp JIDs (4915112345678@s.whatsapp.net) are phone numbers: the phone detector owns them.
_NOT_MAIL_DOMAINS = ("s.whatsapp.net", "c.us", "g.us", "broadcast", "lid")


class EmailDetector(Detector):
    KIND = "email"
    PRIORITY = 30
    PATTERNS = (
        Pattern(
            "email",
            # The look-behind makes a match start only where a run of local-part characters
            # starts, which keeps the search linear on long strings.
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
            r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])",
            0.5,
            scan=r"@[A-Za-z0-9-]+\.[A-Za-z0-9]",
        ),
    )
    CONTEXT = ("email", "mail", "e_mail", "recipient", "sender")

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        local, _, domain = text.rpartition("@")
        domain = domain.lower()
        if local.endswith(".") or ".." in local or len(domain) > 253:
            return False
        if domain.rsplit(".", 1)[-1] in _FILE_EXTENSIONS:
            return False
        return not any(domain == d or domain.endswith("." + d) for d in _NOT_MAIL_DOMAINS)

    def normalize(self, text: str) -> str:
        return text.lower()
