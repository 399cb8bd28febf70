from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "fundpilot.web"
    label = "web"
