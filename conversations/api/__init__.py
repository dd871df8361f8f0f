import django_stubs_ext
from rest_framework import generics, serializers

# DRF's classes written as generics (`ModelSerializer[Conversation]`) for mypy. Done here, not in
# settings: importing DRF while settings load would freeze its defaults.
django_stubs_ext.monkeypatch(
    extra_classes=[serializers.Serializer, serializers.ModelSerializer, generics.ListAPIView]
)
