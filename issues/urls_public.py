"""The public pages (no account) and the printable notice boards, in the "public" namespace."""

from django.urls import path

from . import boards, public

app_name = "public"

urlpatterns = [
    path("r/<str:code>/", public.report, name="report"),
    path("r/<str:code>/sent/<str:token>/", public.sent, name="sent"),
    path("track/", public.track_lookup, name="track_lookup"),
    path("track/<str:code>/", public.track, name="track"),
    path("announcements/<str:code>/", public.announcements, name="announcements"),
    # Staff only (login and scope): the 公示牌 print views.
    path("boards/community/<str:code>/", boards.board_community, name="board_community"),
    path("boards/<str:code>/", boards.board, name="board"),
]
