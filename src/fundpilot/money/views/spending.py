"""Pages of spending, under /pilots/<pilot>/money/ (names in the `money:` namespace)."""

from django.urls import URLPattern

urls: list[URLPattern] = []
