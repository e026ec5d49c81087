"""Ids from requests: the one parser, so `abc`, `0`, `-1`, `１` (a full-width digit), a huge number or
a NUL byte can never reach the database (where a huge id is an overflow, a 500)."""

MAX_ID = 2**62


def parse_id(value):
    """A positive database id from a request value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    text = str(value if value is not None else "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None
