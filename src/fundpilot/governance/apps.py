from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "fundpilot.governance"
    label = "governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Governance work joins the work queues without the participants app importing it.
        from fundpilot.governance import assurance, board, settlement
        from fundpilot.participants.queues import register_sources

        register_sources(settlement.queue_sources)
        register_sources(board.queue_sources)
        register_sources(assurance.queue_sources)
