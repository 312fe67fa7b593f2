"""Blob routes, included under /api/ by hashwhisper.urls."""

from django.urls import path

from media_vault import views

urlpatterns = [
    path("groups/<str:group_id>/blobs", views.blobs, name="blobs"),
    path("groups/<str:group_id>/blobs/<str:blob_id>", views.blob, name="blob"),
]
