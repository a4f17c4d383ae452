from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("results/", views.results, name="results"),
    path("results/<int:pk>/", views.result_detail, name="result_detail"),
    path("exports/", views.export_list, name="export_list"),
    path("exports/new/", views.export_create, name="export_create"),
    path("exports/<int:pk>/row/", views.export_row, name="export_row"),
    path("exports/<int:pk>/notice/", views.export_notice, name="export_notice"),
    path("exports/<int:pk>/download/", views.export_download, name="export_download"),
    path("exports/<int:pk>/retry/", views.export_retry, name="export_retry"),
    path("statements/", views.statement_list, name="statement_list"),
    path("statements/verify/<str:code>/", views.statement_verify, name="statement_verify"),
    path("organizations/switch/", views.switch_organization, name="switch_organization"),
    path("language/", views.switch_language, name="set_language"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
