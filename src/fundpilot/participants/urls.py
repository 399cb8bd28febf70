"""Participant lifecycle pages, under /pilots/<pilot>/ (see fundpilot.urls)."""

from django.urls import path

from fundpilot.participants import views

app_name = "participants"

ONE = "participants/<str:participant_id>/"

urlpatterns = [
    path("queue/", views.work_queue, name="queue"),
    path("participants/", views.participant_list, name="list"),
    path("referrals/new/", views.receive_referral, name="referral"),
    path("referrals/<str:reference>/eligibility/", views.file_eligibility, name="eligibility"),
    path("referrals/<str:reference>/decline/", views.decline, name="decline"),
    path("assessments/new/", views.record_assessment, name="assessment"),
    path("imports/eligibility/", views.import_eligibility, name="import-eligibility"),
    path("imports/referrals/", views.import_referrals, name="import-referrals"),
    path("breaches/", views.breach_report, name="breaches"),
    path(ONE, views.participant_page, name="participant"),
    path(ONE + "activation/", views.decide_activation, name="activation"),
    path(ONE + "compliance/", views.review_compliance, name="compliance"),
    path(ONE + "removal/", views.remove_from_roster, name="removal"),
    path(ONE + "service-level/", views.request_service_level, name="service-level-request"),
    path(
        ONE + "service-level/decision/",
        views.decide_service_level,
        name="service-level-decision",
    ),
    path(ONE + "pathway/", views.release_pathway, name="pathway"),
    path(ONE + "activities/new/", views.record_activity, name="activity"),
    path(ONE + "barriers/", views.barriers, name="barriers"),
    path(ONE + "barriers/resolve/", views.resolve_barrier, name="resolve-barrier"),
    path(ONE + "review/", views.review_progression, name="review"),
    path(ONE + "engagement/", views.record_engagement, name="engagement"),
]
