"""IP addresses, v4 and v6, confirmed by the ipaddress module. Loopback,
unspecified, multicast and reserved addresses identify nobody and are kept."""

from __future__ import annotations

import ipaddress

from processors.redaction.detectors.base import Detector, Pattern


class IpDetector(Detector):
    KIND = "ip"
    PRIORITY = 70
    PATTERNS = (
        # Not after a letter or a dot: v1.2.3.4 and 10.0.19041.1 are versions.
        Pattern("ipv4", r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w]|\.[0-9])", 0.3,
                scan=r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"),
        Pattern("ipv6", r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"
                        r"(?:%[A-Za-z0-9]{1,16})?(?![\w:])", 0.3,
                # Every address the validator accepts has "::" beside a hex digit, or six
                # groups at least; "12:34:56" in every timestamp has neither.
                scan=r"[0-9A-Fa-f]::|::[0-9A-Fa-f]|(?:[0-9A-Fa-f]{1,4}:){6}[0-9A-Fa-f]"),
    )
    CONTEXT = ("ip", "client_ip", "peer_ip", "address")

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        try:
            addr = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return False
        if addr.version == 6 and text.count(":") < 2:
            return False
        return not (addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_reserved)
