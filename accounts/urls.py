from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("register/", views.register, name="register"),
    path("login/", views.login_password, name="login"),
    path("login/code/", views.login_code, name="code"),
    path("totp/enrol/", views.enrol, name="enrol"),
    path("logout/", views.logout_view, name="logout"),
]
