from django.apps import AppConfig


class MediaVaultConfig(AppConfig):
    name = "media_vault"
    verbose_name = "Media vault"
