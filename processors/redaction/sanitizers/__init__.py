"""Sanitisers rewrite parts of structured values: URL query values and
userinfo, SQL literals. They yield findings like the detectors do."""
