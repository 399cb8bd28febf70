from django.contrib.auth import views as auth_views
from django.urls import include, path

from fundpilot.api import api
from fundpilot.pilots.access import permission
from fundpilot.pilots.policy import PUBLIC
from fundpilot.web import views

login = permission(PUBLIC)(
    auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True)
)
logout = permission(PUBLIC)(auth_views.LogoutView.as_view())  # harmless for anyone

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", login, name="login"),
    path("logout/", logout, name="logout"),
    path("pilots/<slug:pilot>/", views.pilot_overview, name="pilot"),
    path("pilots/<slug:pilot>/rulebook/", views.rulebook_page, name="rulebook"),
    path(
        "pilots/<slug:pilot>/rulebook/v<int:number>.toml",
        views.rulebook_download,
        name="rulebook-download",
    ),
    path("pilots/<slug:pilot>/rulebook/propose/", views.rulebook_propose, name="rulebook-propose"),
    path(
        "pilots/<slug:pilot>/rulebook/proposals/<int:proposal_id>/",
        views.rulebook_proposal,
        name="rulebook-proposal",
    ),
    path("pilots/<slug:pilot>/audit/", views.audit_page, name="audit"),
    path("pilots/<slug:pilot>/audit/verify/", views.audit_verify, name="audit-verify"),
    path("pilots/<slug:pilot>/", include("fundpilot.participants.urls")),
    path("pilots/<slug:pilot>/", include("fundpilot.claims.urls")),
    path("pilots/<slug:pilot>/", include("fundpilot.money.urls")),
    path("pilots/<slug:pilot>/", include("fundpilot.governance.urls")),
    path("api/v1/", api.urls),
]
