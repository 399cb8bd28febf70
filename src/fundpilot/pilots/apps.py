from django.apps import AppConfig


class PilotsConfig(AppConfig):
    name = "fundpilot.pilots"
    label = "pilots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from fundpilot.pilots import lockouts  # noqa: F401  (connects the lock signal)
