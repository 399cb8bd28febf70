from django.apps import AppConfig


class ClaimsConfig(AppConfig):
    name = "fundpilot.claims"
    label = "claims"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Claims join the work queues without the participants app importing them.
        from fundpilot.claims import queues

        queues.register()
