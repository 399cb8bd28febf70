from django.apps import AppConfig


class MoneyConfig(AppConfig):
    name = "fundpilot.money"
    label = "money"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Money work joins the work queues without the participants app importing it.
        from fundpilot.money import queues, review_queues

        queues.register()
        review_queues.register()
