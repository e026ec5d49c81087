"""Behind a reverse proxy, the client's address is the proxy's: take the one it forwards, but only
from proxies named in TRUSTED_PROXIES (anyone else could forge the header and dodge rate limits)."""

from django.conf import settings


class TrustedProxyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.trusted = set(settings.TRUSTED_PROXIES)

    def __call__(self, request):
        if self.trusted and request.META.get("REMOTE_ADDR") in self.trusted:
            forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
            # The last address is the one our own proxy saw; earlier ones are the client's to invent.
            hops = [h.strip() for h in forwarded.split(",") if h.strip()]
            if hops:
                request.META["REMOTE_ADDR"] = hops[-1]
        return self.get_response(request)
