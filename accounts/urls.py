from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("register/", views.register, name="register"),
    path("login/", views.login_password, name="login"),
    path("login/code/", views.login_code, name="code"),
    path("login/recovery/", views.login_recovery, name="recovery"),
    path("totp/enrol/", views.enrol, name="enrol"),
    path("logout/", views.logout_view, name="logout"),
    path("security/", views.security, name="security"),
    path("security/password/", views.change_password, name="change-password"),
    path(
        "security/authenticator/",
        views.start_authenticator_reset,
        name="reset-authenticator",
    ),
    path(
        "security/authenticator/new/",
        views.new_authenticator,
        name="new-authenticator",
    ),
    path(
        "security/recovery-codes/",
        views.new_recovery_codes,
        name="new-recovery-codes",
    ),
    path("security/delete/", views.delete_account, name="delete"),
]
