from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("", views.billing_page, name="page"),
    path("topup/", views.topup, name="topup"),
    path("settings/", views.settings_update, name="settings"),
    path("keys/<int:pk>/budget/", views.key_budget, name="key-budget"),
    path("entries/<int:pk>/receipt/", views.receipt, name="receipt"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
