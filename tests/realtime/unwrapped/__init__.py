"""The same app with django-eventstream used as it ships, unwrapped.

Servers started with ``tests.realtime.unwrapped.settings`` as their
``DJANGO_SETTINGS_MODULE`` run the product, except that ``/events/`` is
django-eventstream's own view, its ``DjangoModelStorage`` stores events,
its own Redis listener carries them between processes, and
``/unwrapped/...`` publishes and revokes the way the library documents
(``send_event``, ``channel_permission_changed``). The fault tests run each
scenario against this and against the product.
"""
