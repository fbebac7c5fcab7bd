from django.urls import path

from .api import UsageRequestsView, UsageView

urlpatterns = [
    path("usage/", UsageView.as_view(), name="api-usage"),
    path("usage/requests/", UsageRequestsView.as_view(), name="api-usage-requests"),
]
