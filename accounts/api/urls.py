from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from .views import InvitationViewSet, KeyViewSet, MemberViewSet

router = DefaultRouter()
router.register("keys", KeyViewSet, basename="api-key")
router.register("members", MemberViewSet, basename="api-member")
router.register("invitations", InvitationViewSet, basename="api-invitation")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
]
