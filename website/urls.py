from django.urls import path

from . import trial, views

urlpatterns = [
    path("", views.home, name="home"),
    path("pricing/", views.pricing, name="pricing"),
    path("pricing/estimate/", views.pricing_estimate, name="pricing-estimate"),
    path("models/<slug:provider>/<str:model>/", views.model_detail, name="model-detail"),
    path("docs/", views.docs, name="docs"),
    path("docs/openapi.json", views.openapi_document, name="openapi"),
    path("try/", trial.try_page, name="try"),
    path("try/chat", trial.try_chat, name="try-chat"),
]
