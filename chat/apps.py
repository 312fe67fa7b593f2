from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        # Connects the receivers that carry removals and logouts to open
        # event streams.
        from chat.realtime import signals  # noqa: F401
