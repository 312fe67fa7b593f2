from django.urls import path, re_path

from chat import views

app_name = "chat"

urlpatterns = [
    path("chat/", views.home, name="home"),
    re_path(r"^chat/(?P<group_id>[A-Za-z0-9_-]{22})/$", views.home, name="group"),
    # Anything after /g/join is accepted and never echoed: a QR reader that
    # turns "#" into "%23" puts the invitation secret into the path.
    re_path(r"^g/join", views.join_page, name="join"),
]
