"""The bare views: one insert, one history page, one idle stream, and the
Django floor of the latency benchmark (an insert, then a publish)."""

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import redis
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from chat.models import Message
from chat.retention import expiry_for
from chat.services import message_json
from groups.models import Group


def message_fields(request: HttpRequest) -> dict[str, Any]:
    """A posted message's columns, decoded and not checked; the sender from
    the query string."""
    data = json.loads(request.body)
    return {
        "sender_id": int(request.GET["sender"]),
        "epoch": 1,
        "ciphertext": base64.b64decode(data["ciphertext"]),
        "nonce": base64.b64decode(data["nonce"]),
        "tag": base64.b64decode(data["tag"]),
    }


@csrf_exempt
async def post_message(request: HttpRequest, group_id: str) -> HttpResponse:
    """The product's insert of one message, and nothing around it."""
    group = await Group.objects.aget(pk=group_id)
    try:
        message = await Message.objects.acreate(
            group=group, expires_at=expiry_for(group), **message_fields(request)
        )
    except IntegrityError:
        return JsonResponse({"error": "nonce"}, status=409)
    return JsonResponse({"id": message.id}, status=201)


# The relay's channel (bench/baselines.py), on the relay's Redis.
RELAY_CHANNEL = "relay"
relay_publisher: redis.Redis | None = None


@csrf_exempt
def store_and_relay(request: HttpRequest, group_id: str) -> HttpResponse:
    """The least a Django view can do for a durable message: one ORM insert,
    committed, then a publish on the relay's channel for the relay's streams.

    No middleware, session, login, CSRF, membership or epoch check: the floor
    any Django post path that stores before it publishes stands on.
    """
    global relay_publisher
    if relay_publisher is None:
        relay_publisher = redis.Redis.from_url(os.environ["HW_BENCH_REDIS_URL"])
    fields = message_fields(request)
    try:
        message = Message.objects.create(
            group_id=group_id,
            expires_at=timezone.now() + timedelta(days=7),
            **fields,
        )
    except IntegrityError:
        return JsonResponse({"error": "nonce"}, status=409)
    relay_publisher.publish(RELAY_CHANNEL, base64.b64encode(fields["nonce"]))
    return JsonResponse({"id": message.id}, status=201)


# The all-async floor's own connections, one per process.
async_store: Any = None
async_publisher: Any = None
async_lock = asyncio.Lock()


@csrf_exempt
async def store_and_relay_async(request: HttpRequest, group_id: str) -> HttpResponse:
    """``store_and_relay`` without a thread: the same row written by one SQL
    INSERT on an asynchronous psycopg connection (no ORM), then an
    asynchronous publish; Django's own ASGI handler, no middleware."""
    global async_store, async_publisher
    import psycopg
    import redis.asyncio as aioredis
    from django.db import connection

    fields = message_fields(request)
    async with async_lock:
        if async_store is None:
            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            params.pop("pool", None)
            async_store = await psycopg.AsyncConnection.connect(
                **params, autocommit=True
            )
            async_publisher = aioredis.Redis.from_url(os.environ["HW_BENCH_REDIS_URL"])
        try:
            cursor = await async_store.execute(
                "INSERT INTO chat_message (group_id, sender_id, epoch, ciphertext,"
                " nonce, tag, created_at, expires_at) VALUES (%s, %s, %s, %s, %s,"
                " %s, now(), now() + interval '7 days') RETURNING id",
                (
                    group_id,
                    fields["sender_id"],
                    fields["epoch"],
                    fields["ciphertext"],
                    fields["nonce"],
                    fields["tag"],
                ),
            )
        except psycopg.errors.UniqueViolation:
            return JsonResponse({"error": "nonce"}, status=409)
        row = await cursor.fetchone()
    await async_publisher.publish(RELAY_CHANNEL, base64.b64encode(fields["nonce"]))
    return JsonResponse({"id": row[0]}, status=201)


async def history(request: HttpRequest, group_id: str) -> HttpResponse:
    """The product's history query (a page before a cursor), as JSON."""
    rows = Message.objects.filter(group_id=group_id, expires_at__gt=timezone.now())
    rows = rows.filter(id__lt=int(request.GET["before"])).select_related("sender")
    page = [m async for m in rows.order_by("-id")[:51]]
    items = [message_json(m, m.sender.get_username()) for m in reversed(page[:50])]
    return JsonResponse({"messages": items, "has_more": len(page) > 50})


async def idle_events() -> AsyncIterator[bytes]:
    yield b"event: open\ndata:\n\n"
    while True:
        await asyncio.sleep(3600)
        yield b"event: keep-alive\ndata:\n\n"


def stream(request: HttpRequest) -> StreamingHttpResponse:
    """A plain Django streaming response that stays open."""
    return StreamingHttpResponse(idle_events(), content_type="text/event-stream")


def alive(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("", alive),
    path("bare/<str:group_id>/messages", post_message),
    path("bare/<str:group_id>/relay", store_and_relay),
    path("bare/<str:group_id>/relay-async", store_and_relay_async),
    path("bare/<str:group_id>/history", history),
    path("bare/events", stream),
]
