from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("analytics", views.dashboard, name="dashboard"),
    path("analytics/requests", views.requests_page, name="requests"),
    path("analytics/requests/<str:request_id>", views.request_detail, name="request"),
    path("analytics/export.csv", views.export_csv, name="export"),
]
