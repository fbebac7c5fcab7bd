from django.urls import path

from . import api, views

urlpatterns = [
    path("models/<slug:provider>/<str:model>/prices", views.model_prices, name="model-prices"),
    path("api/models/<slug:provider>/<str:model>/prices/", api.ModelPriceHistory.as_view(), name="api-model-prices"),
]
