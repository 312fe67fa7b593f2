from django.apps import AppConfig


class MediaVaultConfig(AppConfig):
    name = "media_vault"
    verbose_name = "Media vault"

    def ready(self) -> None:
        from media_vault import signals  # noqa: F401 - connects the receivers
